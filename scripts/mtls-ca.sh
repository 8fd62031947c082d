#!/usr/bin/env bash
# A small CA for the mTLS between router and inference nodes: short-lived X.509 v3 certificates
# (Deno's TLS refuses v1), EC P-256 keys, renewed by a systemd timer (systemd/privacy-gateway-cert-renew.*)
# well before expiry. The gateway and the node re-read their certificate files when they change, without
# dropping streams.
#
# Usage: scripts/mtls-ca.sh [--dir DIR] [--days N] [--group NAME|GID] [--dry-run] COMMAND
#   init                      create the CA (ca.pem, ca-key.pem) if absent
#   issue-router NAME         client certificate NAME.pem for a router (CN=NAME, clientAuth); its key is
#                             root:GROUP 0640, for the router's gateway to read
#   issue-node NAME ADDRESS   server certificate NAME.pem for a node (CN=NAME, serverAuth, SAN ADDRESS); its
#                             key is root:root 0600 here, to be copied to the node (docs/operations.md)
#   renew [--within-days N]   re-issue every certificate that expires within N days (default 3), keeping
#                             each key's and certificate's owner, group and mode; a certificate that
#                             cannot be renewed is reported and the others are still renewed (exit 1)
# Defaults: --dir /etc/privacy-gateway/mtls, --days 7, --group privacy-gateway. DIR is root:GROUP 0750,
# ca-key.pem root:root 0600, certificates 0644.
set -euo pipefail

dir=/etc/privacy-gateway/mtls
days=7
group=privacy-gateway
dry_run=0
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) dir="${2:?--dir needs a directory}"; shift 2 ;;
    --days) days="${2:?--days needs a number}"; shift 2 ;;
    --group) group="${2:?--group needs a group name or id}"; shift 2 ;;
    --dry-run) dry_run=1; shift ;;
    -h | --help) sed -n '2,19p' "$0"; exit 0 ;;
    *) args+=("$1"); shift ;;
  esac
done
set -- "${args[@]+"${args[@]}"}"
command="${1:?usage: mtls-ca.sh [--dir DIR] [--days N] [--group G] [--dry-run] init|issue-router|issue-node|renew}"
shift

say() { echo "mtls-ca: $*" >&2; }
# Owner of new files: root in production (the renew unit runs as root); the caller in tests.
me="$(id -u):$(id -g)"
act() {
  if [ "$dry_run" = 1 ]; then
    echo "would: $*"
    return 1
  fi
  return 0
}

new_key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

# The numeric id of the service group; refuses to guess when it does not exist.
group_id() {
  local gid
  if [[ "$group" =~ ^[0-9]+$ ]]; then echo "$group"; return; fi
  gid="$(getent group "$group" | cut -d: -f3 || true)"
  [ -n "$gid" ] || { say "no group '$group': run scripts/install.sh first, or pass --group"; exit 1; }
  echo "$gid"
}

make_ca() { # NAME CN
  local name="$1" cn="$2"
  if [ -f "$dir/$name.pem" ]; then say "$name.pem exists"; return; fi
  act "create CA $dir/$name.pem (CN=$cn, $((days * 52)) days)" || return 0
  local gid
  gid="$(group_id)"
  mkdir -p "$dir"
  chgrp "$gid" "$dir"
  chmod 750 "$dir"
  (umask 077 && new_key "$dir/$name-key.pem")
  openssl req -x509 -new -key "$dir/$name-key.pem" -subj "/CN=$cn" -days "$((days * 52))" -out "$dir/$name.pem" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
  chmod 644 "$dir/$name.pem"
  say "created $dir/$name.pem"
}

# access FILE DEFAULT_OWNER DEFAULT_MODE: the owner:group and mode a new FILE gets: those of the file it
# replaces, so a renewal keeps what the admin set (e.g. a key chowned for the service), else the default.
access() {
  if [ -e "$1" ]; then stat -c '%u:%g %a' "$1"; else echo "$2 $3"; fi
}

issue() { # NAME CN CA USAGE SAN KEY_OWNER KEY_MODE
  local name="$1" cn="$2" ca="$3" usage="$4" san="$5" key_owner="$6" key_mode="$7"
  act "issue $dir/$name.pem (CN=$cn, $usage${san:+, $san}, $days days, signed by $ca)" || return 0
  [ -f "$dir/$ca.pem" ] || { say "no CA '$ca' in $dir: run init first"; return 1; }
  local tmp key_access cert_access
  key_access="$(access "$dir/$name-key.pem" "$key_owner" "$key_mode")"
  cert_access="$(access "$dir/$name.pem" "$me" 644)"
  # In DIR itself, so that the renames below stay on one file system and are atomic.
  tmp="$(mktemp -d "$dir/.issue-$name-XXXXXX")"
  (umask 077 && new_key "$tmp/key.pem")
  openssl req -new -key "$tmp/key.pem" -subj "/CN=$cn" -out "$tmp/req.csr" 2>/dev/null
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature"
    echo "extendedKeyUsage=$usage"
    if [ -n "$san" ]; then echo "subjectAltName=$san"; fi
  } >"$tmp/ext.cnf"
  if ! openssl x509 -req -in "$tmp/req.csr" -CA "$dir/$ca.pem" -CAkey "$dir/$ca-key.pem" -CAcreateserial \
    -CAserial "$tmp/serial" -days "$days" -extfile "$tmp/ext.cnf" -out "$tmp/cert.pem" 2>/dev/null; then
    rm -rf "$tmp"
    say "cannot sign $name.pem with CA '$ca'"
    return 1
  fi
  # Mode before owner: once a file belongs to someone else, changing its mode would need CAP_FOWNER,
  # which the renew unit does not have.
  chmod "${key_access#* }" "$tmp/key.pem"
  chown "${key_access% *}" "$tmp/key.pem"
  chmod "${cert_access#* }" "$tmp/cert.pem"
  chown "${cert_access% *}" "$tmp/cert.pem"
  # Key first, then certificate, each replaced atomically: a reader never sees a half-written file.
  mv "$tmp/key.pem" "$dir/$name-key.pem"
  mv "$tmp/cert.pem" "$dir/$name.pem"
  echo "$usage|$san|$ca|$cn" >"$dir/$name.profile"
  rm -rf "$tmp"
  say "issued $dir/$name.pem"
}

san_for() { # ADDRESS → SAN
  if [[ "$1" =~ ^[0-9.]+$ || "$1" == *:* ]]; then echo "IP:$1"; else echo "DNS:$1"; fi
}

# renew_one NAME WITHIN_DAYS: re-issues NAME.pem when it expires within the window. Returns non-zero, with
# a message, when it cannot.
renew_one() {
  local name="$1" within="$2" usage san ca cn
  if [ ! -f "$dir/$name.pem" ]; then
    say "cannot renew $name.pem: it is missing (issue it again, or remove $name.profile to stop renewing it)"
    return 1
  fi
  if openssl x509 -in "$dir/$name.pem" -noout -checkend $((within * 86400)) >/dev/null 2>&1; then
    say "$name.pem is valid beyond $within days"
    return 0
  fi
  IFS='|' read -r usage san ca cn <"$dir/$name.profile"
  if [ -z "$cn" ]; then
    # Profiles written before the CN was recorded: take it from the certificate.
    cn="$(openssl x509 -in "$dir/$name.pem" -noout -subject -nameopt multiline | sed -n 's/^ *commonName *= *//p')"
  fi
  [ -n "$cn" ] || { say "cannot renew $name.pem: no subject CN in it"; return 1; }
  issue "$name" "$cn" "$ca" "$usage" "$san" "$me" 600
}

case "$command" in
  init) make_ca ca "privacy-gateway mTLS CA" ;;
  issue-router)
    name="${1:?issue-router NAME}"
    issue "$name" "$name" ca clientAuth "" "$(id -u):$(group_id)" 640
    ;;
  issue-node)
    name="${1:?issue-node NAME ADDRESS}"
    address="${2:?issue-node NAME ADDRESS}"
    issue "$name" "$name" ca serverAuth "$(san_for "$address"),DNS:localhost" "$me" 600
    ;;
  make-ca) make_ca "${1:?make-ca NAME CN}" "${2:?make-ca NAME CN}" ;;
  issue-with) issue "${1:?}" "${2:?}" "${3:?}" "${4:?}" "${5:-}" "$(id -u):$(group_id)" 640 ;;
  renew)
    within=3
    if [ "${1:-}" = "--within-days" ]; then within="${2:?--within-days needs a number}"; fi
    failed=()
    for profile in "$dir"/*.profile; do
      [ -e "$profile" ] || continue
      name="$(basename "$profile" .profile)"
      # A subshell per certificate: one failure (set -e inside it) is reported, the others still renew.
      set +e
      (set -e; renew_one "$name" "$within")
      status=$?
      set -e
      [ "$status" = 0 ] || failed+=("$name")
    done
    if [ "${#failed[@]}" -gt 0 ]; then
      say "renewal failed for: ${failed[*]}"
      exit 1
    fi
    ;;
  *) say "unknown command '$command'"; exit 2 ;;
esac
