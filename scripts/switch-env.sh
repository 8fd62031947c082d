#!/usr/bin/env bash
# Switches a box between environments by installing the matching configuration and restarting:
#   development   single box, embedded defaults (demo model unless PG_MODEL_PATH is set)
#   single-box    production, gateway and llama-server on one host
#   router        production router in front of inference nodes (WireGuard + mTLS)
# Every configuration it replaces is kept as gateway.env.YYYYMMDDTHHMMSSZ (never overwritten: a customised
# file survives any number of switches). When the file already matches, nothing changes and nothing
# restarts.
#
# Usage: scripts/switch-env.sh development|single-box|router [--group NAME|GID] [--root DIR] [--dry-run]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=lib/deploy.sh source-path=SCRIPTDIR
. "$here/lib/deploy.sh"
parse_common_args "$@"
set -- "${REST_ARGS[@]+"${REST_ARGS[@]}"}"
case "${1:-}" in
  development) source_file="$REPO/deploy/privacy-gateway-development.env.example" ;;
  single-box) source_file="$REPO/deploy/privacy-gateway.env.example" ;;
  router) source_file="$REPO/deploy/privacy-gateway-router.env.example" ;;
  *) echo "switch-env.sh: pass development, single-box or router" >&2; exit 2 ;;
esac
target=/etc/privacy-gateway/gateway.env
if [ -f "$ROOT$target" ] && cmp -s "$source_file" "$ROOT$target"; then
  echo "unchanged: $target is already the $1 configuration; not restarting"
  exit 0
fi
if [ -f "$ROOT$target" ]; then
  stamp="$(date -u +%Y%m%dT%H%M%SZ)"
  backup="$target.$stamp"
  n=1
  while [ -e "$ROOT$backup" ]; do backup="$target.$stamp-$n" n=$((n + 1)); done
  run cp -p "$ROOT$target" "$ROOT$backup"
  echo "kept: $target as $backup"
fi
install_file 0640 "$source_file" "$target" service
run_live systemctl restart privacy-gateway.service
