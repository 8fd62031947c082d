#!/usr/bin/env bash
# WireGuard between the router and the inference nodes: keys and wg0.conf from deploy/wireguard/.
#
# Usage: scripts/wireguard.sh [--root DIR] [--dry-run] COMMAND
#   keys                                   create /etc/wireguard/wg0.key and wg0.pub if absent
#   router --address 10.88.0.1/24 [--port 51820] --peer NAME=PUBLIC_KEY=10.88.0.2 [--peer ...]
#   node --address 10.88.0.2/24 [--port 51820] --router-endpoint HOST:51820 \
#        --router-public-key KEY [--router-address 10.88.0.1]
# `router` and `node` need `keys` first. A public key is what `wg pubkey` prints: 44 characters of base64
# ending in "=", so in --peer the name is up to the first "=" and the address after the last one.
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

# A WireGuard public key: 32 bytes in base64, so 43 characters, the last of a restricted set, then "=".
valid_key() { [[ "$1" =~ ^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$ ]]; }
valid_ipv4() { [[ "$1" =~ ^([0-9]{1,3}\.){3}[0-9]{1,3}$ ]]; }

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
          peer="${2:?--peer NAME=PUBLIC_KEY=ADDRESS}"
          name="${peer%%=*}" rest="${peer#*=}"
          key="${rest%=*}" ip="${rest##*=}"
          if [ "$name" = "$peer" ] || [ -z "$name" ] || ! valid_key "$key" || ! valid_ipv4 "$ip"; then
            echo "wireguard.sh: --peer '$peer' is not NAME=PUBLIC_KEY=ADDRESS (a key from wg pubkey, an IPv4 address)" >&2
            exit 2
          fi
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
    if [ "$command" = node ]; then
      valid_key "$router_key" || { echo "wireguard.sh: pass --router-public-key (the router's wg0.pub)" >&2; exit 2; }
      [ -n "$endpoint" ] || { echo "wireguard.sh: pass --router-endpoint HOST:PORT" >&2; exit 2; }
    fi
    if [ ! -f "$ROOT$key_file" ] && [ "$DRY_RUN" = 0 ]; then
      # Never a placeholder: wg-quick would bring the tunnel up with it, or fail at boot.
      echo "wireguard.sh: no $key_file yet: run 'scripts/wireguard.sh keys' first" >&2
      exit 1
    fi
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
      printf '%s\n' "${content//@PRIVATE_KEY@/$(cat "$ROOT$key_file")}" | write_file 0600 /etc/wireguard/wg0.conf
    fi
    ;;
  *) echo "Unknown command '$command'" >&2; exit 2 ;;
esac
