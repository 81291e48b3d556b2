#!/bin/sh
# Make a private certificate authority and a server certificate for Mosquitto's TLS listener.
#
#   sh deploy/make-certs.sh [DIR] [HOSTNAME ...]
#
# DIR defaults to deploy/certs; the hostnames (default: mosquitto localhost) are the names
# clients use to reach the broker, written into the certificate's subjectAltName. Clients
# verify the broker with DIR/ca.crt (cnetwin: mqtts://user:pass@host:8883?ca=/path/ca.crt).
# Keep ca.key offline; re-run to renew (certificates last 825 days).
set -eu
dir=${1:-deploy/certs}
[ $# -gt 0 ] && shift
[ $# -gt 0 ] || set -- mosquitto localhost
san=""
for name in "$@"; do san="${san:+$san,}DNS:$name"; done
san="$san,IP:127.0.0.1"
mkdir -p "$dir"
umask 077
openssl req -x509 -newkey rsa:3072 -sha256 -days 825 -nodes -subj "/CN=cnetwin MQTT CA" \
    -keyout "$dir/ca.key" -out "$dir/ca.crt" 2>/dev/null
openssl req -newkey rsa:3072 -sha256 -nodes -subj "/CN=$1" \
    -keyout "$dir/server.key" -out "$dir/server.csr" 2>/dev/null
printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\n' "$san" > "$dir/server.ext"
openssl x509 -req -sha256 -days 825 -in "$dir/server.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" \
    -CAcreateserial -extfile "$dir/server.ext" -out "$dir/server.crt" 2>/dev/null
rm -f "$dir/server.csr" "$dir/server.ext" "$dir/ca.srl"
chmod 644 "$dir/ca.crt" "$dir/server.crt"
# Mosquitto runs as user mosquitto (uid 1883) in its image and must read the key.
chmod 640 "$dir/server.key"
echo "wrote $dir/ca.crt, $dir/server.crt and $dir/server.key for: $*"
