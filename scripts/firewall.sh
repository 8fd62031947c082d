#!/usr/bin/env bash
# nftables rules: the router exposes only 443 (TCP/UDP) and SSH, plus WireGuard; a node accepts only
# WireGuard (and SSH), and inference only on wg0. Rules live in deploy/nftables/; each file replaces the
# table inet privacy_gateway in one transaction and touches no other table.
#
# Usage: scripts/firewall.sh --role router|node [--yes] [--root DIR] [--dry-run]
#   without --yes   checks the rules (nft -c) and shows them; nothing is installed or loaded
#   --yes           installs /etc/nftables.d/privacy-gateway.nft and loads it (a bad rule set is refused
#                   by the check before anything changes)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=lib/deploy.sh source-path=SCRIPTDIR
. "$here/lib/deploy.sh"
parse_common_args "$@"
set -- "${REST_ARGS[@]+"${REST_ARGS[@]}"}"
role=""
yes=0
while [ $# -gt 0 ]; do
  case "$1" in
    --role) role="${2:?}"; shift 2 ;;
    --yes) yes=1; shift ;;
    -h | --help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "Unknown argument '$1'" >&2; exit 2 ;;
  esac
done
case "$role" in router | node) ;; *) echo "firewall.sh: pass --role router or --role node" >&2; exit 2 ;; esac
rules="$REPO/deploy/nftables/$role.nft"
target=/etc/nftables.d/privacy-gateway.nft

if [ "$yes" = 0 ] && [ "$DRY_RUN" = 0 ] && [ -z "$ROOT" ]; then
  # A firewall change can cut the SSH session it is typed in: show it, check it, change nothing.
  cat "$rules"
  nft -c -f "$rules"
  echo "firewall.sh: the rules above pass 'nft -c'; nothing was loaded. Review them, then run again with --yes"
  exit 0
fi
install_file 0644 "$rules" "$target"
run_live nft -c -f "$target"
run_live nft -f "$target"
echo "include \"$target\" in /etc/nftables.conf to keep the rules across reboots"
