#!/usr/bin/env bash
# Upgrades the privacy-gateway binary with a health-checked switch, and rolls back on failure. The
# previous binary is kept as /usr/bin/privacy-gateway.previous. Binaries are replaced by a rename, never
# written over: the running process keeps its (old) file, and "Text file busy" cannot happen.
#
# Usage: scripts/upgrade.sh --binary FILE [--role gateway|node] [--health URL] [--timeout S]
#                           [--env-file FILE] [--restart-command CMD] [--root DIR] [--dry-run]
#        scripts/upgrade.sh --rollback [--role gateway|node] [--restart-command CMD] [--root DIR] [--dry-run]
#   --role             gateway (privacy-gateway.service) or node (privacy-gateway-node.service)
#   --health           readiness to wait for; by default from the role's env file:
#                        gateway  http(s)://PG_HOST:PG_PORT/ready (0.0.0.0 and :: are asked on loopback)
#                        node     llama-server's /health on PG_RUNTIME_DIR/llama.sock, and the mTLS
#                                 listener PG_NODE_LISTEN accepting connections (its /health needs a
#                                 router's client certificate, which a node does not have)
#   --env-file         the role's env file (default /etc/privacy-gateway/gateway.env or node.env)
#   --restart-command  how to restart instead of `systemctl restart UNIT` (hosts without systemd, the
#                      deployment rehearsal); it also runs, and the health is checked, under --root
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=lib/deploy.sh source-path=SCRIPTDIR
. "$here/lib/deploy.sh"
parse_common_args "$@"
set -- "${REST_ARGS[@]+"${REST_ARGS[@]}"}"

binary=""
role=gateway
health=""
env_file=""
restart_command=""
timeout=60
rollback=0
while [ $# -gt 0 ]; do
  case "$1" in
    --binary) binary="${2:?}"; shift 2 ;;
    --role) role="${2:?}"; shift 2 ;;
    --health) health="${2:?}"; shift 2 ;;
    --env-file) env_file="${2:?}"; shift 2 ;;
    --restart-command) restart_command="${2:?}"; shift 2 ;;
    --timeout) timeout="${2:?}"; shift 2 ;;
    --rollback) rollback=1; shift ;;
    -h | --help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "Unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
case "$role" in
  gateway) unit=privacy-gateway.service ;;
  node) unit=privacy-gateway-node.service ;;
  *) echo "upgrade: --role is gateway or node, not '$role'" >&2; exit 2 ;;
esac
[ -n "$env_file" ] || env_file="$ROOT/etc/privacy-gateway/$role.env"
current=/usr/bin/privacy-gateway
previous=/usr/bin/privacy-gateway.previous

# env_value NAME DEFAULT: NAME's value in the env file (the gateway's own format: KEY=VALUE, optional
# quotes, last one wins), or DEFAULT.
env_value() {
  local value
  value="$(sed -n "s/^[[:space:]]*$1=//p" "$env_file" 2>/dev/null | tail -n 1)"
  value="${value%\"}" value="${value#\"}" value="${value%\'}" value="${value#\'}"
  echo "${value:-$2}"
}

# A loopback address for a listen address: readiness is asked locally.
local_host() {
  case "$1" in
    0.0.0.0 | "") echo 127.0.0.1 ;;
    :: | "[::]") echo "[::1]" ;;
    *:*) local bare="${1#[}"; echo "[${bare%]}]" ;;
    *) echo "$1" ;;
  esac
}

# ready: one readiness check for the role; 0 when ready.
ready() {
  if [ -n "$health" ]; then
    curl -fsS -o /dev/null --max-time 5 "$health"
    return
  fi
  if [ "$role" = gateway ]; then
    local scheme=http
    [ -n "$(env_value PG_TLS_CERT_FILE "")" ] && scheme=https
    # --insecure: only readiness is asked, on this machine, and nothing secret is sent; the apps check
    # the certificate (its name would not match a loopback address anyway).
    curl -fsS -o /dev/null --max-time 5 --insecure \
      "$scheme://$(local_host "$(env_value PG_HOST 127.0.0.1)"):$(env_value PG_PORT 8000)/ready"
  else
    local listen socket
    listen="$(env_value PG_NODE_LISTEN 127.0.0.1:9443)"
    socket="$ROOT$(env_value PG_RUNTIME_DIR /run/privacy-gateway)/llama.sock"
    # shellcheck disable=SC2016 # $1 and $2 belong to the inner bash
    curl -fsS -o /dev/null --max-time 5 --unix-socket "$socket" http://llama/health &&
      timeout 5 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$(local_host "${listen%:*}" | tr -d '[]')" "${listen##*:}"
  fi
}

# What `ready` asks, for messages.
describe_health() {
  if [ -n "$health" ]; then echo "$health"
  elif [ "$role" = gateway ]; then
    echo "$(local_host "$(env_value PG_HOST 127.0.0.1)"):$(env_value PG_PORT 8000)/ready"
  else
    echo "$(env_value PG_RUNTIME_DIR /run/privacy-gateway)/llama.sock /health and $(env_value PG_NODE_LISTEN 127.0.0.1:9443)"
  fi
}

restart() {
  if [ -n "$restart_command" ]; then
    run bash -c "$restart_command"
  else
    run_live systemctl restart "$unit"
  fi
}

# Whether this run restarts anything and can wait for it.
live() { [ "$DRY_RUN" = 0 ] && { [ -z "$ROOT" ] || [ -n "$restart_command" ]; }; }

switch_back() {
  echo "upgrade: rolling back to the previous binary" >&2
  install_file 0755 "$ROOT$previous" "$current" >/dev/null
  restart
}

if [ "$rollback" = 1 ]; then
  [ -f "$ROOT$previous" ] || { echo "upgrade: no previous binary to roll back to" >&2; exit 1; }
  switch_back
  exit 0
fi

[ -n "$binary" ] || { echo "upgrade: pass --binary FILE" >&2; exit 2; }
[ -x "$binary" ] || [ "$DRY_RUN" = 1 ] || { echo "upgrade: '$binary' is not an executable" >&2; exit 2; }
if [ -f "$ROOT$current" ] && cmp -s "$binary" "$ROOT$current"; then
  echo "upgrade: $binary is already installed"
  exit 0
fi
if [ -f "$ROOT$current" ]; then keep_previous "$current"; fi
install_file 0755 "$binary" "$current"
restart
if ! live; then
  echo "would wait up to ${timeout}s for $(describe_health)"
  exit 0
fi
deadline=$((SECONDS + timeout))
until ready 2>/dev/null; do
  if [ "$SECONDS" -ge "$deadline" ]; then
    echo "upgrade: $(describe_health) did not become ready within ${timeout}s" >&2
    if [ -f "$ROOT$previous" ]; then switch_back; fi
    exit 1
  fi
  sleep 1
done
echo "upgrade: $unit is ready on the new binary (previous kept for rollback)"
