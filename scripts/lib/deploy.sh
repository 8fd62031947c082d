# shellcheck shell=bash
# Shared by the deployment scripts: dry runs, staging roots and the service group.
#   --dry-run      print every change instead of making it
#   --root DIR     make the changes under DIR instead of / (tests, image builds); no service commands
#   --group G      the service user's group, by name or number (default privacy-gateway). Files the
#                  service reads are root:G and group-readable (0750 folders, 0640 files), never writable.
# Each script sets DRY_RUN, ROOT and SERVICE_GROUP from its arguments, then uses these helpers.

DRY_RUN="${DRY_RUN:-0}"
ROOT="${ROOT:-}"
SERVICE_GROUP="${SERVICE_GROUP:-privacy-gateway}"
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

# service_gid: the numeric id of SERVICE_GROUP, or nothing when no such group exists here (a staging
# run under --root on a machine without the service user, or a dry run before install.sh created it).
service_gid() {
  if [[ "$SERVICE_GROUP" =~ ^[0-9]+$ ]]; then
    echo "$SERVICE_GROUP"
  else
    getent group "$SERVICE_GROUP" | cut -d: -f3 || true
  fi
}

# set_access MODE OWNER PATH: gives $ROOT/PATH the MODE and, for OWNER "service", the group GROUP (OWNER
# "root": group root). Idempotent; prints only what it changes.
set_access() {
  local mode="$1" owner="$2" path="$ROOT$3" gid="" want have
  # Staging as an ordinary user (--root in CI) cannot hand files to root's group; the mode still applies.
  [ "$(id -u)" = 0 ] && gid=0
  if [ "$owner" = service ]; then
    gid="$(service_gid)"
    if [ -z "$gid" ]; then
      if [ "$DRY_RUN" = 1 ] || [ -n "$ROOT" ]; then
        echo "would chgrp $SERVICE_GROUP $3 (no such group on this machine yet; --group GID stages it)"
      else
        echo "Cannot give $3 to group '$SERVICE_GROUP': no such group (install.sh creates it)" >&2
        return 1
      fi
    fi
  fi
  want="$(printf '%o' "$((8#$mode))")${gid:+ $gid}"
  have="$(stat -c "%a${gid:+ %g}" "$path" 2>/dev/null || echo absent)"
  [ "$have" = "$want" ] && return 0
  if [ "$DRY_RUN" = 1 ]; then
    echo "would set: $3 (mode $mode${gid:+, group $gid})"
    return 0
  fi
  if [ -n "$gid" ]; then chgrp "$gid" "$path"; fi
  chmod "$mode" "$path"
  echo "changed: $3 (mode $mode${gid:+, group $gid})"
}

# install_file MODE SOURCE DEST [OWNER]: copies a file to $ROOT/DEST with MODE, idempotently, atomically
# (a temporary file in the same folder, then rename: a running binary is never written over). OWNER
# "service" makes it root:GROUP (see set_access); the default is root:root.
install_file() {
  local mode="$1" source="$2" dest="$ROOT$3" owner="${4:-root}" tmp
  if [ -f "$dest" ] && cmp -s "$source" "$dest"; then
    echo "unchanged: $3"
    set_access "$mode" "$owner" "$3"
    return
  fi
  if [ "$DRY_RUN" = 1 ]; then
    echo "would install: $3 (mode $mode${4:+, owner $owner})"
    return
  fi
  mkdir -p "$(dirname "$dest")"
  tmp="$(mktemp "$dest.new-XXXXXX")"
  install -m "$mode" "$source" "$tmp"
  # Group and mode before the rename: the file appears with its final access or not at all.
  set_access "$mode" "$owner" "${tmp#"$ROOT"}" >/dev/null
  mv -f "$tmp" "$dest"
  echo "installed: $3"
}

# keep_previous PATH: copies $ROOT/PATH to PATH.previous (for rollback) through a temporary file and a
# rename, keeping mode and owner.
keep_previous() {
  local path="$ROOT$1" tmp
  if [ "$DRY_RUN" = 1 ]; then
    echo "would keep: $1 as $1.previous"
    return
  fi
  tmp="$(mktemp "$path.previous.new-XXXXXX")"
  cp -p "$path" "$tmp"
  mv -f "$tmp" "$path.previous"
  echo "kept: $1 as $1.previous"
}

# write_file MODE DEST < content: writes stdin to $ROOT/DEST with MODE, idempotently.
write_file() {
  local mode="$1" tmp
  tmp="$(mktemp)"
  cat >"$tmp"
  install_file "$mode" "$tmp" "$2"
  rm -f "$tmp"
}

# ensure_dir MODE DIR [OWNER]: creates $ROOT/DIR, or corrects the mode and group of an existing one
# (OWNER as in set_access).
ensure_dir() {
  local mode="$1" dir="$2" owner="${3:-root}"
  if [ ! -d "$ROOT$dir" ]; then
    if [ "$DRY_RUN" = 1 ]; then
      echo "would create: $dir/ (mode $mode${3:+, owner $owner})"
      return
    fi
    mkdir -p "$ROOT$dir"
    echo "created: $dir/"
  fi
  set_access "$mode" "$owner" "$dir"
}

# parse_common_args "$@": consumes --dry-run, --root and --group; the rest is left in REST_ARGS.
parse_common_args() {
  REST_ARGS=()
  while [ $# -gt 0 ]; do
    case "$1" in
      --dry-run) DRY_RUN=1 ;;
      --root)
        ROOT="${2:?--root needs a directory}"
        shift
        ;;
      --group)
        SERVICE_GROUP="${2:?--group needs a group name or id}"
        shift
        ;;
      *) REST_ARGS+=("$1") ;;
    esac
    shift
  done
}
