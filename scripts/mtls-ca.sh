#!/usr/bin/env bash
# A small CA for the mTLS between router and inference nodes: short-lived X.509 v3 certificates
# (Deno's TLS refuses v1), EC P-256 keys, renewed by a systemd timer (deploy/systemd/) well before expiry.
# The gateway and the node re-read their certificate files when they change, without dropping streams.
#
# Usage: scripts/mtls-ca.sh [--dir DIR] [--days N] [--dry-run] COMMAND
#   init                      create the CA (ca.pem, ca-key.pem) if absent
#   issue-router NAME         client certificate NAME.pem for a router (CN=NAME, clientAuth)
#   issue-node NAME ADDRESS   server certificate NAME.pem for a node (CN=NAME, serverAuth, SAN ADDRESS)
#   renew [--within-days N]   re-issue every certificate that expires within N days (default 3)
# Defaults: --dir /etc/privacy-gateway/mtls, --days 7.
set -euo pipefail

dir=/etc/privacy-gateway/mtls
days=7
dry_run=0
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) dir="${2:?--dir needs a directory}"; shift 2 ;;
    --days) days="${2:?--days needs a number}"; shift 2 ;;
    --dry-run) dry_run=1; shift ;;
    -h | --help) sed -n '2,12p' "$0"; exit 0 ;;
    *) args+=("$1"); shift ;;
  esac
done
set -- "${args[@]+"${args[@]}"}"
command="${1:?usage: mtls-ca.sh [--dir DIR] [--days N] [--dry-run] init|issue-router|issue-node|renew}"
shift

say() { echo "mtls-ca: $*" >&2; }
act() {
  if [ "$dry_run" = 1 ]; then
    echo "would: $*"
    return 1
  fi
  return 0
}

new_key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

make_ca() { # NAME CN
  local name="$1" cn="$2"
  if [ -f "$dir/$name.pem" ]; then say "$name.pem exists"; return; fi
  act "create CA $dir/$name.pem (CN=$cn, $((days * 52)) days)" || return 0
  mkdir -p "$dir"
  chmod 700 "$dir"
  (umask 077 && new_key "$dir/$name-key.pem")
  openssl req -x509 -new -key "$dir/$name-key.pem" -subj "/CN=$cn" -days "$((days * 52))" -out "$dir/$name.pem" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
  say "created $dir/$name.pem"
}

issue() { # NAME CN CA USAGE [SAN]
  local name="$1" cn="$2" ca="$3" usage="$4" san="${5:-}"
  act "issue $dir/$name.pem (CN=$cn, $usage${san:+, $san}, $days days, signed by $ca)" || return 0
  [ -f "$dir/$ca.pem" ] || { say "no CA '$ca' in $dir: run init first"; exit 1; }
  local tmp
  tmp="$(mktemp -d)"
  (umask 077 && new_key "$tmp/key.pem")
  openssl req -new -key "$tmp/key.pem" -subj "/CN=$cn" -out "$tmp/req.csr" 2>/dev/null
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature"
    echo "extendedKeyUsage=$usage"
    [ -n "$san" ] && echo "subjectAltName=$san"
  } >"$tmp/ext.cnf"
  openssl x509 -req -in "$tmp/req.csr" -CA "$dir/$ca.pem" -CAkey "$dir/$ca-key.pem" -CAcreateserial \
    -CAserial "$tmp/serial" -days "$days" -extfile "$tmp/ext.cnf" -out "$tmp/cert.pem" 2>/dev/null
  # Key first, then certificate, each replaced atomically: a reader never sees a half-written file.
  mv "$tmp/key.pem" "$dir/$name-key.pem"
  mv "$tmp/cert.pem" "$dir/$name.pem"
  echo "$usage|$san|$ca" >"$dir/$name.profile"
  rm -rf "$tmp"
  say "issued $dir/$name.pem"
}

san_for() { # ADDRESS → SAN
  if [[ "$1" =~ ^[0-9.]+$ || "$1" == *:* ]]; then echo "IP:$1"; else echo "DNS:$1"; fi
}

case "$command" in
  init) make_ca ca "privacy-gateway mTLS CA" ;;
  issue-router) issue "${1:?issue-router NAME}" "$1" ca clientAuth ;;
  issue-node)
    name="${1:?issue-node NAME ADDRESS}"
    address="${2:?issue-node NAME ADDRESS}"
    issue "$name" "$name" ca serverAuth "$(san_for "$address"),DNS:localhost"
    ;;
  make-ca) make_ca "${1:?make-ca NAME CN}" "${2:?make-ca NAME CN}" ;;
  issue-with) issue "${1:?}" "${2:?}" "${3:?}" "${4:?}" "${5:-}" ;;
  renew)
    within=3
    [ "${1:-}" = "--within-days" ] && within="${2:?}"
    for profile in "$dir"/*.profile; do
      [ -e "$profile" ] || continue
      name="$(basename "$profile" .profile)"
      if openssl x509 -in "$dir/$name.pem" -noout -checkend $((within * 86400)) >/dev/null; then
        say "$name.pem is valid beyond $within days"
        continue
      fi
      IFS='|' read -r usage san ca <"$profile"
      cn="$(openssl x509 -in "$dir/$name.pem" -noout -subject | sed 's/.*CN *= *//')"
      issue "$name" "$cn" "$ca" "$usage" "$san"
    done
    ;;
  *) say "unknown command '$command'"; exit 2 ;;
esac
