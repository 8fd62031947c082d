#!/usr/bin/env bash
# WireGuard between the router and the inference nodes: keys and wg0.conf from deploy/wireguard/.
#
# Usage: scripts/wireguard.sh [--root DIR] [--dry-run] COMMAND
#   keys                                   create /etc/wireguard/wg0.key and wg0.pub if absent
#   router --address 10.88.0.1/24 [--port 51820] --peer NAME=PUBLIC_KEY=10.88.0.2 [--peer ...]
#   node --address 10.88.0.2/24 [--port 51820] --router-endpoint HOST:51820 \
#        --router-public-key KEY [--router-address 10.88.0.1]
# Then: systemctl enable --now wg-quick@wg0
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=lib/deploy.sh source-path=SCRIPTDIR
. "$here/lib/deploy.sh"
parse_common_args "$@"
set -- "${REST_ARGS[@]+"${REST_ARGS[@]}"}"
command="${1:?usage: wireguard.sh [--root DIR] [--dry-run] keys|router|node ...}"
shift

key_file=/etc/wireguard/wg0.key
private_key() {
  if [ -f "$ROOT$key_file" ]; then cat "$ROOT$key_file"; else echo "<private key of $key_file>"; fi
}

case "$command" in
  keys)
    if [ -f "$ROOT$key_file" ]; then
      echo "unchanged: $key_file"
    elif [ "$DRY_RUN" = 1 ]; then
      echo "would create: $key_file (mode 0600) and /etc/wireguard/wg0.pub"
    else
      command -v wg >/dev/null || { echo "wireguard.sh: install wireguard-tools first" >&2; exit 1; }
      mkdir -p "$ROOT/etc/wireguard"
      chmod 700 "$ROOT/etc/wireguard"
      (umask 077 && wg genkey >"$ROOT$key_file")
      wg pubkey <"$ROOT$key_file" >"$ROOT/etc/wireguard/wg0.pub"
      echo "created: $key_file; public key: $(cat "$ROOT/etc/wireguard/wg0.pub")"
    fi
    ;;
  router | node)
    address="" port=51820 peers="" endpoint="" router_key="" router_address=10.88.0.1
    while [ $# -gt 0 ]; do
      case "$1" in
        --address) address="${2:?}"; shift 2 ;;
        --port) port="${2:?}"; shift 2 ;;
        --peer)
          IFS='=' read -r name key ip <<<"${2:?--peer NAME=PUBLIC_KEY=ADDRESS}"
          peers+=$'\n'"[Peer]"$'\n'"# $name"$'\n'"PublicKey = $key"$'\n'"AllowedIPs = $ip/32"$'\n'
          shift 2
          ;;
        --router-endpoint) endpoint="${2:?}"; shift 2 ;;
        --router-public-key) router_key="${2:?}"; shift 2 ;;
        --router-address) router_address="${2:?}"; shift 2 ;;
        *) echo "Unknown argument '$1'" >&2; exit 2 ;;
      esac
    done
    [ -n "$address" ] || { echo "wireguard.sh: pass --address" >&2; exit 2; }
    template="$REPO/deploy/wireguard/wg0-$command.conf.tmpl"
    content="$(cat "$template")"
    content="${content//@ADDRESS@/$address}"
    content="${content//@PORT@/$port}"
    content="${content//@PEERS@/$peers}"
    content="${content//@ROUTER_ENDPOINT@/$endpoint}"
    content="${content//@ROUTER_PUBLIC_KEY@/$router_key}"
    content="${content//@ROUTER_ADDRESS@/$router_address}"
    if [ "$DRY_RUN" = 1 ]; then
      # The private key is never printed.
      printf '%s\n' "${content//@PRIVATE_KEY@/<from $key_file>}" | write_file 0600 /etc/wireguard/wg0.conf
    else
      printf '%s\n' "${content//@PRIVATE_KEY@/$(private_key)}" | write_file 0600 /etc/wireguard/wg0.conf
    fi
    ;;
  *) echo "Unknown command '$command'" >&2; exit 2 ;;
esac
