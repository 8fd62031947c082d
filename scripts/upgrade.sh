#!/usr/bin/env bash
# Upgrades the privacy-gateway binary with a health-checked switch, and rolls back on failure.
# The previous binary is kept as /usr/bin/privacy-gateway.previous.
#
# Usage: scripts/upgrade.sh --binary FILE [--role gateway|node] [--health URL] [--timeout S] [--dry-run]
#        scripts/upgrade.sh --rollback [--role gateway|node] [--dry-run]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=lib/deploy.sh source-path=SCRIPTDIR
. "$here/lib/deploy.sh"
parse_common_args "$@"
set -- "${REST_ARGS[@]+"${REST_ARGS[@]}"}"

binary=""
role=gateway
health="http://127.0.0.1:8000/ready"
timeout=60
rollback=0
while [ $# -gt 0 ]; do
  case "$1" in
    --binary) binary="${2:?}"; shift 2 ;;
    --role) role="${2:?}"; shift 2 ;;
    --health) health="${2:?}"; shift 2 ;;
    --timeout) timeout="${2:?}"; shift 2 ;;
    --rollback) rollback=1; shift ;;
    -h | --help) sed -n '2,7p' "$0"; exit 0 ;;
    *) echo "Unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
unit="privacy-gateway.service"
[ "$role" = node ] && unit="privacy-gateway-node.service"
current="$ROOT/usr/bin/privacy-gateway"
previous="$ROOT/usr/bin/privacy-gateway.previous"

switch_back() {
  echo "upgrade: rolling back to the previous binary" >&2
  run cp -p "$previous" "$current"
  run_live systemctl restart "$unit"
}

if [ "$rollback" = 1 ]; then
  [ -f "$previous" ] || { echo "upgrade: no previous binary to roll back to" >&2; exit 1; }
  switch_back
  exit 0
fi

[ -n "$binary" ] || { echo "upgrade: pass --binary FILE" >&2; exit 2; }
[ -x "$binary" ] || [ "$DRY_RUN" = 1 ] || { echo "upgrade: '$binary' is not an executable" >&2; exit 2; }
if [ -f "$current" ] && cmp -s "$binary" "$current"; then
  echo "upgrade: $binary is already installed"
  exit 0
fi
[ -f "$current" ] && run cp -p "$current" "$previous"
run install -m 0755 "$binary" "$current"
run_live systemctl restart "$unit"
if [ "$DRY_RUN" = 1 ] || [ -n "$ROOT" ]; then
  echo "would wait up to ${timeout}s for $health to answer 200"
  exit 0
fi
deadline=$((SECONDS + timeout))
until curl -fsS -o /dev/null "$health"; do
  if [ "$SECONDS" -ge "$deadline" ]; then
    echo "upgrade: $health did not become ready within ${timeout}s" >&2
    switch_back
    exit 1
  fi
  sleep 2
done
echo "upgrade: $unit is ready on the new binary (previous kept for rollback)"
