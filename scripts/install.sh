#!/usr/bin/env bash
# Installs privacy-gateway on a host: system user, directories, the binary (keeping the previous one
# for rollback), llama-server, systemd units and an example configuration. Idempotent.
#
# Usage: scripts/install.sh [--role gateway|node] [--binary FILE] [--llama-server DIR] [--gpu]
#                           [--group NAME|GID] [--root DIR] [--dry-run]
#   --binary        the compiled privacy-gateway (scripts/compile.sh)
#   --llama-server  directory with llama-server and its libraries (scripts/build-llama-server.sh)
#   --gpu           (node) add the GPU drop-in that opens the NVIDIA devices
#   --group         the service user's group (default privacy-gateway, created here); a number stages
#                   the ownership under --root for a user that does not exist on this machine
# The service user reads, and cannot change, what it needs: /etc/privacy-gateway, its mtls/ folder and
# /var/lib/privacy-gateway/models are root:privacy-gateway 0750, the env file root:privacy-gateway 0640.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=lib/deploy.sh source-path=SCRIPTDIR
. "$here/lib/deploy.sh"
parse_common_args "$@"
set -- "${REST_ARGS[@]+"${REST_ARGS[@]}"}"

role=gateway
binary=""
llama_dir=""
gpu=0
while [ $# -gt 0 ]; do
  case "$1" in
    --role) role="${2:?--role needs gateway or node}"; shift 2 ;;
    --binary) binary="${2:?}"; shift 2 ;;
    --llama-server) llama_dir="${2:?}"; shift 2 ;;
    --gpu) gpu=1; shift ;;
    -h | --help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "Unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
case "$role" in gateway | node) ;; *) echo "Unknown role '$role'" >&2; exit 2 ;; esac
unit="privacy-gateway.service"
[ "$role" = node ] && unit="privacy-gateway-node.service"

if [ -z "$ROOT" ] && [ "$SERVICE_GROUP" = privacy-gateway ] && ! getent passwd privacy-gateway >/dev/null; then
  # --user-group: the service's own group, through which it reads its configuration.
  run useradd --system --user-group --home-dir /var/lib/privacy-gateway --no-create-home \
    --shell /usr/sbin/nologin privacy-gateway
fi

ensure_dir 0755 /usr/lib/privacy-gateway
ensure_dir 0750 /etc/privacy-gateway service
ensure_dir 0750 /etc/privacy-gateway/mtls service
ensure_dir 0750 /var/lib/privacy-gateway service
ensure_dir 0750 /var/lib/privacy-gateway/models service

if [ -n "$binary" ]; then
  if [ -f "$ROOT/usr/bin/privacy-gateway" ] && ! cmp -s "$binary" "$ROOT/usr/bin/privacy-gateway"; then
    keep_previous /usr/bin/privacy-gateway
  fi
  install_file 0755 "$binary" /usr/bin/privacy-gateway
fi
if [ -n "$llama_dir" ]; then
  for file in "$llama_dir"/*; do
    install_file 0755 "$file" "/usr/lib/privacy-gateway/$(basename "$file")"
  done
fi

# Every unit from systemd/; none is enabled here (docs/deployment.md says which to enable where).
units=("$unit" privacy-gateway-notify@.service)
[ "$role" = gateway ] && units+=(
  privacy-gateway-cert-renew.service privacy-gateway-cert-renew.timer
  privacy-gateway-keys-rotate.service privacy-gateway-keys-rotate.timer
)
for name in "${units[@]}"; do
  install_file 0644 "$REPO/systemd/$name" "/etc/systemd/system/$name"
done
install_file 0755 "$REPO/scripts/mtls-ca.sh" /usr/lib/privacy-gateway/mtls-ca.sh
if [ "$role" = node ] && [ "$gpu" = 1 ]; then
  install_file 0644 "$REPO/systemd/privacy-gateway-node.service.d/gpu.conf" \
    /etc/systemd/system/privacy-gateway-node.service.d/gpu.conf
fi
env_file="/etc/privacy-gateway/$role.env"
if [ ! -f "$ROOT$env_file" ]; then
  example="$REPO/deploy/privacy-gateway.env.example"
  [ "$role" = node ] && example="$REPO/deploy/privacy-gateway-node.env.example"
  install_file 0640 "$example" "$env_file" service
  echo "next: edit $env_file, then: systemctl enable --now $unit"
else
  # The admin's file is never replaced, but it must stay readable by the service and nobody else.
  set_access 0640 service "$env_file"
fi

run_live systemctl daemon-reload
