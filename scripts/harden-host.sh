#!/usr/bin/env bash
# Host settings that keep conversations out of swap and core dumps, reviewed rather than silent: without
# --yes it only shows what it would change.
#   swap off (swapoff -a; swap lines in /etc/fstab commented out, backup kept), vm.swappiness=0,
#   fs.suid_dumpable=0, kernel.core_pattern discarding dumps, systemd-coredump storage off,
#   kernel.randomize_va_space=2 (full ASLR), kernel.kptr_restrict=2, kernel.dmesg_restrict=1.
#
# Usage: scripts/harden-host.sh [--yes] [--root DIR] [--dry-run]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=lib/deploy.sh source-path=SCRIPTDIR
. "$here/lib/deploy.sh"
parse_common_args "$@"
set -- "${REST_ARGS[@]+"${REST_ARGS[@]}"}"
yes=0
[ "${1:-}" = "--yes" ] && yes=1
if [ "$yes" = 0 ] && [ "$DRY_RUN" = 0 ] && [ -z "$ROOT" ]; then
  echo "harden-host.sh: review the changes below, then run again with --yes"
  DRY_RUN=1
fi

write_file 0644 /etc/sysctl.d/90-privacy-gateway.conf <<'CONF'
# privacy-gateway: no conversation in swap or core dumps; full ASLR (scripts/harden-host.sh)
vm.swappiness = 0
fs.suid_dumpable = 0
kernel.core_pattern = |/bin/false
kernel.randomize_va_space = 2
kernel.kptr_restrict = 2
kernel.dmesg_restrict = 1
CONF
write_file 0644 /etc/systemd/coredump.conf.d/90-privacy-gateway.conf <<'CONF'
[Coredump]
Storage=none
ProcessSizeMax=0
CONF
if [ -f "$ROOT/etc/fstab" ] && grep -qE '^[^#].*[[:space:]]swap[[:space:]]' "$ROOT/etc/fstab"; then
  run cp -p "$ROOT/etc/fstab" "$ROOT/etc/fstab.before-privacy-gateway"
  run sed -i -E 's|^([^#].*[[:space:]]swap[[:space:]].*)$|# disabled by privacy-gateway: \1|' "$ROOT/etc/fstab"
fi
run_live swapoff -a
run_live sysctl --system
