#!/usr/bin/env bash
# nftables rules: the router exposes only 443 (TCP/UDP) and SSH, plus WireGuard; a node accepts only
# WireGuard (and SSH), and inference only on wg0. Rules live in deploy/nftables/.
#
# Usage: scripts/firewall.sh --role router|node [--root DIR] [--dry-run]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=lib/deploy.sh source-path=SCRIPTDIR
. "$here/lib/deploy.sh"
parse_common_args "$@"
set -- "${REST_ARGS[@]+"${REST_ARGS[@]}"}"
role=""
while [ $# -gt 0 ]; do
  case "$1" in
    --role) role="${2:?}"; shift 2 ;;
    *) echo "Unknown argument '$1'" >&2; exit 2 ;;
  esac
done
case "$role" in router | node) ;; *) echo "firewall.sh: pass --role router or --role node" >&2; exit 2 ;; esac
install_file 0644 "$REPO/deploy/nftables/$role.nft" /etc/nftables.d/privacy-gateway.nft
run_live nft -c -f /etc/nftables.d/privacy-gateway.nft
run_live nft -f /etc/nftables.d/privacy-gateway.nft
echo "include \"/etc/nftables.d/privacy-gateway.nft\" in /etc/nftables.conf to keep the rules across reboots"
