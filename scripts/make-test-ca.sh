#!/usr/bin/env bash
# Creates a small CA and X.509 v3 certificates with openssl, for tests and local trials of mTLS:
#   ca.pem/ca-key.pem            the CA (CA:TRUE, keyCertSign)
#   node.pem/node-key.pem        server certificate for inference nodes (serverAuth; localhost, 127.0.0.1)
#   router.pem/router-key.pem    client certificate for the gateway (clientAuth; CN=router)
#   other-ca.pem, stranger.pem/stranger-key.pem   a second CA and a client certificate it issued
# Usage: scripts/make-test-ca.sh OUT_DIR [--days N] [--dry-run]
# Deno's TLS (rustls) refuses X.509 v1 certificates, so every certificate carries v3 extensions.
set -euo pipefail

out="${1:?usage: make-test-ca.sh OUT_DIR [--days N] [--dry-run]}"
shift
days=2
dry_run=0
while [ $# -gt 0 ]; do
  case "$1" in
    --days) days="${2:?--days needs a number}"; shift 2 ;;
    --dry-run) dry_run=1; shift ;;
    *) echo "Unknown argument '$1'" >&2; exit 2 ;;
  esac
done

if [ "$dry_run" = 1 ]; then
  echo "would create in $out: ca.pem ca-key.pem node.pem node-key.pem router.pem router-key.pem other-ca.pem stranger.pem stranger-key.pem (valid $days days)"
  exit 0
fi

mkdir -p "$out"
chmod 700 "$out"
cd "$out"
umask 077

new_key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

make_ca() { # name cn
  new_key "$1-key.pem"
  openssl req -x509 -new -key "$1-key.pem" -subj "/CN=$2" -days "$days" -out "$1.pem" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
}

issue() { # name cn ca usage san
  new_key "$1-key.pem"
  openssl req -new -key "$1-key.pem" -subj "/CN=$2" -out "$1.csr" 2>/dev/null
  printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=%s\n%s\n' "$4" "$5" > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA "$3.pem" -CAkey "$3-key.pem" -CAcreateserial -days "$days" \
    -extfile "$1.ext" -out "$1.pem" 2>/dev/null
  rm -f "$1.csr" "$1.ext"
}

make_ca ca "privacy-gateway test CA"
issue node "node" ca serverAuth "subjectAltName=DNS:localhost,IP:127.0.0.1"
issue router "router" ca clientAuth ""
make_ca other-ca "another CA"
issue stranger "router" other-ca clientAuth ""
rm -f ./*.srl
echo "certificates written to $out" >&2
