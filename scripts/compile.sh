#!/usr/bin/env bash
# Builds the single `privacy-gateway` binary with `deno compile`, permissions baked in from
# scripts/permissions.ts for the production layout (one set per role), for x86_64 and aarch64 Linux.
#
# Usage: scripts/compile.sh [--target x86_64|aarch64|all] [--role gateway|node] [--out DIR] [--dry-run]
#   DENORT_BIN   a local denort binary; without it deno compile downloads denort from Deno's servers,
#                which fails where they are unreachable (this script then says so and stops).
#   PG_*         the production paths the permissions are scoped to (defaults: the systemd layout).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
targets=(x86_64)
role=gateway
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
    --out) out="${2:?--out needs a directory}"; shift 2 ;;
    --dry-run) dry_run=1; shift ;;
    -h | --help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "Unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

# The production layout (systemd/*.service); override with PG_* variables.
export PG_RUNTIME_DIR="${PG_RUNTIME_DIR:-/run/privacy-gateway}"
export PG_LLAMA_SERVER_BIN="${PG_LLAMA_SERVER_BIN:-/usr/lib/privacy-gateway/llama-server}"
export PG_ENV_FILE="${PG_ENV_FILE:-/etc/privacy-gateway/${role}.env}"
export PG_IDENTITY_KEY_FILE="${PG_IDENTITY_KEY_FILE:-/etc/privacy-gateway/identity.json}"
export PG_MODEL_PATH="${PG_MODEL_PATH:-/var/lib/privacy-gateway/models/model.gguf}"
export PG_TLS_CERT_FILE="${PG_TLS_CERT_FILE:-/etc/privacy-gateway/tls/fullchain.pem}"
export PG_TLS_KEY_FILE="${PG_TLS_KEY_FILE:-/etc/privacy-gateway/tls/privkey.pem}"
export PG_MTLS_CA_FILE="${PG_MTLS_CA_FILE:-/etc/privacy-gateway/mtls/ca.pem}"
export PG_MTLS_CERT_FILE="${PG_MTLS_CERT_FILE:-/etc/privacy-gateway/mtls/${role}.pem}"
export PG_MTLS_KEY_FILE="${PG_MTLS_KEY_FILE:-/etc/privacy-gateway/mtls/${role}-key.pem}"
if [ "$role" = gateway ]; then
  export PG_HOST="${PG_HOST:-0.0.0.0}" PG_PORT="${PG_PORT:-443}"
else
  export PG_NODE_LISTEN="${PG_NODE_LISTEN:-0.0.0.0:9443}"
fi

mapfile -t flags < <(deno run --allow-env scripts/permissions.ts "$role" 2>/dev/null || (cd "$root" && deno run --allow-env scripts/permissions.ts "$role"))
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
