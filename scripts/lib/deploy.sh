# shellcheck shell=bash
# Shared by the deployment scripts: dry runs and staging roots.
#   --dry-run     print every change instead of making it
#   --root DIR    make the changes under DIR instead of / (tests, image builds); no service commands
# Each script sets DRY_RUN and ROOT from its arguments, then uses these helpers.

DRY_RUN="${DRY_RUN:-0}"
ROOT="${ROOT:-}"
# The repository the scripts belong to (templates live in deploy/ and systemd/).
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export REPO

# Runs a command, or prints it on a dry run.
run() {
  if [ "$DRY_RUN" = 1 ]; then
    printf 'would run:'
    printf ' %q' "$@"
    printf '\n'
  else
    "$@"
  fi
}

# Runs a command that acts on the live system (systemctl, nft, sysctl, swapoff); skipped under --root.
run_live() {
  if [ -n "$ROOT" ]; then
    printf 'skipped under --root:'
    printf ' %q' "$@"
    printf '\n'
  else
    run "$@"
  fi
}

# install_file MODE SOURCE DEST: copies a file to $ROOT/DEST with MODE, idempotently.
install_file() {
  local mode="$1" source="$2" dest="$ROOT$3"
  if [ -f "$dest" ] && cmp -s "$source" "$dest"; then
    echo "unchanged: $3"
    return
  fi
  if [ "$DRY_RUN" = 1 ]; then
    echo "would install: $3 (mode $mode)"
    return
  fi
  mkdir -p "$(dirname "$dest")"
  install -m "$mode" "$source" "$dest"
  echo "installed: $3"
}

# write_file MODE DEST < content: writes stdin to $ROOT/DEST with MODE, idempotently.
write_file() {
  local mode="$1" tmp
  tmp="$(mktemp)"
  cat >"$tmp"
  install_file "$mode" "$tmp" "$2"
  rm -f "$tmp"
}

# ensure_dir MODE DIR
ensure_dir() {
  if [ -d "$ROOT$2" ]; then return; fi
  if [ "$DRY_RUN" = 1 ]; then
    echo "would create: $2/ (mode $1)"
  else
    mkdir -p "$ROOT$2"
    chmod "$1" "$ROOT$2"
    echo "created: $2/"
  fi
}

# parse_common_args "$@": consumes --dry-run and --root; the rest is left in REST_ARGS.
parse_common_args() {
  REST_ARGS=()
  while [ $# -gt 0 ]; do
    case "$1" in
      --dry-run) DRY_RUN=1 ;;
      --root)
        ROOT="${2:?--root needs a directory}"
        shift
        ;;
      *) REST_ARGS+=("$1") ;;
    esac
    shift
  done
}
