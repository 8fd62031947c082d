#!/usr/bin/env bash
# Builds the single `privacy-gateway` binary with `deno compile`, for x86_64 and aarch64 Linux, with the
# permissions baked in from the env file the service will run with (scripts/permissions.ts): one binary per
# role and env file. At start-up the binary checks its grants against its configuration and exits 78 with
# one line per missing grant when they do not fit (src/config/grants.ts). The gateway's V8 young-generation
# cap follows the file's PG_MAX_CONCURRENT_STREAMS (src/config/heap.ts) and is baked too: rebuild after
# changing it.
#
# Usage: scripts/compile.sh [--role gateway|node] [--env-file FILE] [--installed-as PATH]
#                           [--target x86_64|aarch64|all] [--out DIR] [--dry-run]
#   --env-file      the env file the service will use (default: the role's deploy/*.env.example, which
#                   install.sh installs)
#   --installed-as  where that file lives on the server (default /etc/privacy-gateway/ROLE.env, the
#                   unit's PG_ENV_FILE)
#   DENORT_BIN      a local denort binary; without it deno compile downloads denort from Deno's servers,
#                   which fails where they are unreachable (this script then says so and stops).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
targets=(x86_64)
role=gateway
env_file=""
installed_as=""
out="$root/dist"
dry_run=0
while [ $# -gt 0 ]; do
  case "$1" in
    --target)
      case "${2:?--target needs x86_64, aarch64 or all}" in
        all) targets=(x86_64 aarch64) ;;
        x86_64 | aarch64) targets=("$2") ;;
        *) echo "Unknown target '$2'" >&2; exit 2 ;;
      esac
      shift 2 ;;
    --role) role="${2:?--role needs gateway or node}"; shift 2 ;;
    --env-file) env_file="${2:?--env-file needs a file}"; shift 2 ;;
    --installed-as) installed_as="${2:?--installed-as needs a path}"; shift 2 ;;
    --out) out="${2:?--out needs a directory}"; shift 2 ;;
    --dry-run) dry_run=1; shift ;;
    -h | --help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "Unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
case "$role" in gateway | node) ;; *) echo "Unknown role '$role'" >&2; exit 2 ;; esac
if [ -z "$env_file" ]; then
  env_file="$root/deploy/privacy-gateway.env.example"
  [ "$role" = node ] && env_file="$root/deploy/privacy-gateway-node.env.example"
  echo "compile: no --env-file; granting what $env_file needs" >&2
fi
installed_as="${installed_as:-/etc/privacy-gateway/$role.env}"

# Grants (and the gateway's young-generation cap, src/config/heap.ts) from the env file; a configuration
# that is invalid or needs more than llama-server stops here.
if ! grants="$(cd "$root" && deno run --no-prompt --allow-read scripts/permissions.ts \
  --role "$role" --env-file "$env_file" --installed-as "$installed_as")"; then
  echo "compile: fix $env_file and run again" >&2
  exit 78
fi
mapfile -t flags <<<"$grants"
mkdir -p "$out"

for arch in "${targets[@]}"; do
  target="${arch}-unknown-linux-gnu"
  binary="$out/privacy-gateway-${role}-${arch}"
  cmd=(deno compile --no-check=remote "${flags[@]}" --target "$target" --output "$binary" "$root/src/main.ts")
  if [ "$dry_run" = 1 ]; then
    printf '%q ' "${cmd[@]}"
    echo
    continue
  fi
  echo "compile: building $binary ($target)" >&2
  if [ -n "${DENORT_BIN:-}" ]; then
    export DENORT_BIN
  fi
  if ! log="$(cd "$root" && "${cmd[@]}" 2>&1)"; then
    echo "$log" >&2
    if grep -qiE 'dl\.deno\.land|denort|download|dns error|connect' <<<"$log"; then
      echo "compile: deno compile needs 'denort', which it downloads from Deno's servers; they are unreachable here." >&2
      echo "compile: set DENORT_BIN to a local denort binary for $target (same Deno version) and run again." >&2
    fi
    exit 1
  fi
  size=$(du -h "$binary" | cut -f1)
  echo "compile: $binary ($size)" >&2
done
