#!/usr/bin/env bash
# Test CA and certificates for tests and local trials, made with scripts/mtls-ca.sh:
#   ca.pem, node.pem (serverAuth; localhost, 127.0.0.1), router.pem (clientAuth; CN=router),
#   other-ca.pem and stranger.pem (a client certificate from another CA).
# Usage: scripts/make-test-ca.sh OUT_DIR [--days N] [--dry-run]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:?usage: make-test-ca.sh OUT_DIR [--days N] [--dry-run]}"
shift
# The caller's own group: tests read the keys as themselves.
ca=("$here/mtls-ca.sh" --dir "$out" --days 2 --group "$(id -g)" "$@")
"${ca[@]}" init
"${ca[@]}" issue-with node node ca serverAuth "DNS:localhost,IP:127.0.0.1"
"${ca[@]}" issue-router router
"${ca[@]}" make-ca other-ca "another CA"
"${ca[@]}" issue-with stranger router other-ca clientAuth
