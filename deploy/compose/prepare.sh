#!/usr/bin/env bash
# Prepare a county centre's compose deployment (deploy/compose/compose.yaml), once, as root, on
# the Docker host. Makes what the containers mount from the host, with the owners they run as:
#
#   certs/ca/ca.key, ca.crt              the site CA (keep ca.key offline after use)
#   certs/mosquitto/server.{key,crt}     Mosquitto's TLS certificate (SANs from --host), ca.crt
#   secrets/ingest_mqtt_password         the gateway ingest's MQTT password (random)
#   secrets/admin_password               the first web UI admin's password (random; user "admin")
#
# Mosquitto and the gateway run as the same uid (10001): Mosquitto reads the password and ACL
# files the gateway writes. Sites are added in the gateway (web UI or REST API), not here.
#
# Existing files are kept, so running it again is harmless. Certificate rotation:
#   prepare.sh --renew-server-cert --host …   new server key and certificate from the same CA
#
# usage: prepare.sh --host NAME [--host NAME…] [--dir DIR] [--days N] [--renew-server-cert]
#   --host NAME   a DNS name or IP address the sites use to reach the centre (repeatable)
#   --dir DIR     where compose.yaml lives (default: this script's directory)
#   --days N      server certificate validity (default 825); the CA gets 10 years
set -euo pipefail

dir=$(cd "$(dirname "$0")" && pwd)
hosts=()
days=825
renew=0
# The uid the gateway and Mosquitto containers run as (the gateway image's user).
uid=10001

die() {
  printf 'prepare: %s\n' "$*" >&2
  exit 1
}
say() { printf 'prepare: %s\n' "$*"; }

while (($# > 0)); do
  case "$1" in
    --host) hosts+=("${2:?--host needs a name}"); shift 2 ;;
    --dir) dir="${2:?--dir needs a directory}"; shift 2 ;;
    --days) days="${2:?--days needs a number}"; shift 2 ;;
    --renew-server-cert) renew=1; shift ;;
    -h | --help) sed -n '2,18p' "$0"; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done
[[ $days =~ ^[0-9]+$ ]] || die "--days must be a number"
command -v openssl >/dev/null || die "openssl is needed: apt-get install openssl"
[[ -d $dir ]] || die "$dir is not a directory"
if ((EUID != 0)); then
  die "run as root: the files are given to the containers' user (uid $uid)"
fi

umask 077
install -d -m 0755 "$dir/certs" "$dir/secrets"
install -d -m 0700 "$dir/certs/ca"
install -d -m 0750 -o "$uid" -g "$uid" "$dir/certs/mosquitto"

# --- the site CA ----------------------------------------------------------------------------
ca_key="$dir/certs/ca/ca.key"
ca_crt="$dir/certs/ca/ca.crt"
if [[ ! -f $ca_key ]]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -sha256 -days 3650 \
    -subj "/O=sharpeyes/CN=sharpeyes site CA" \
    -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout "$ca_key" -out "$ca_crt" 2>/dev/null
  chmod 0600 "$ca_key"
  chmod 0644 "$ca_crt"
  say "made the site CA: $ca_crt (copy it to every edge as mqtt.ca_file; keep ca.key offline)"
fi
install -m 0644 -o "$uid" -g "$uid" "$ca_crt" "$dir/certs/mosquitto/ca.crt"

# --- Mosquitto's server certificate ---------------------------------------------------------
srv_key="$dir/certs/mosquitto/server.key"
srv_crt="$dir/certs/mosquitto/server.crt"
if [[ ! -f $srv_crt || $renew == 1 ]]; then
  ((${#hosts[@]} > 0)) || die "--host NAME is needed for the server certificate (the name sites connect to)"
  sans=()
  for h in "${hosts[@]}"; do
    if [[ $h =~ ^[0-9.]+$ || $h == *:* ]]; then sans+=("IP:$h"); else sans+=("DNS:$h"); fi
  done
  san=$(IFS=,; echo "${sans[*]}")
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -sha256 \
    -subj "/O=sharpeyes/CN=${hosts[0]}" -keyout "$tmp/server.key" -out "$tmp/server.csr" 2>/dev/null
  printf 'subjectAltName=%s\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n' \
    "$san" >"$tmp/ext.cnf"
  openssl x509 -req -in "$tmp/server.csr" -CA "$ca_crt" -CAkey "$ca_key" -CAcreateserial \
    -CAserial "$dir/certs/ca/ca.srl" -days "$days" -sha256 -extfile "$tmp/ext.cnf" -out "$tmp/server.crt" 2>/dev/null
  openssl verify -CAfile "$ca_crt" "$tmp/server.crt" >/dev/null || die "the new server certificate does not verify"
  # Key first, then certificate, each replaced atomically (rename), owned by Mosquitto.
  install -m 0400 -o "$uid" -g "$uid" "$tmp/server.key" "$srv_key.new"
  install -m 0444 -o "$uid" -g "$uid" "$tmp/server.crt" "$srv_crt.new"
  mv -f "$srv_key.new" "$srv_key"
  mv -f "$srv_crt.new" "$srv_crt"
  say "server certificate for $san, valid $days days: $srv_crt"
  ((renew == 0)) || say "restart Mosquitto to load it: docker compose restart mosquitto"
fi

# --- secrets: random passwords, read by the gateway only ------------------------------------
for name in ingest_mqtt_password admin_password; do
  f="$dir/secrets/$name"
  if [[ ! -f $f ]]; then
    openssl rand -base64 33 | tr -d '\n/+=' >"$f"
    say "made $f"
  fi
  chown "$uid:$uid" "$f"
  chmod 0400 "$f"
done
[[ ! -f $dir/config/gateway.json ]] || chmod 0644 "$dir/config/gateway.json"

say "ready: docker compose -f $dir/compose.yaml up -d"
