#!/usr/bin/env bash
# certs.sh DIR — make a throwaway CA and a server certificate for
# 127.0.0.1 / localhost / ::1 signed by it, for the test database servers.
#
# Writes DIR/ca.pem (CA:TRUE), DIR/server.pem (leaf, CA:FALSE) and
# DIR/server.key. The CA and the leaf are separate on purpose: rustls rejects
# a self-signed CA certificate used as an end-entity (CaUsedAsEndEntity).
# Reuses existing files if all three are already there. Logs go to stderr.
set -euo pipefail

dir=${1:?usage: certs.sh DIR}
mkdir -p "$dir"
cd "$dir"

if [[ -s ca.pem && -s server.pem && -s server.key ]]; then
  exit 0
fi

command -v openssl >/dev/null || {
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q openssl >&2 || { apt-get update -q >&2 && apt-get install -y -q openssl >&2; }
}

# Extensions for the two certificates.
cat >ca.ext <<'EOF'
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
EOF
cat >server.ext <<'EOF'
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, IP:::1, DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
EOF

# 1. The CA: a self-signed root.
openssl req -new -newkey rsa:2048 -nodes -keyout ca.key -subj "/CN=varlor-test-ca" \
  -out ca.csr 2>/dev/null
openssl x509 -req -in ca.csr -signkey ca.key -days 3650 -sha256 \
  -extfile ca.ext -out ca.pem 2>/dev/null

# 2. The server leaf, signed by the CA.
openssl req -new -newkey rsa:2048 -nodes -keyout server.key -subj "/CN=localhost" \
  -out server.csr 2>/dev/null
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
  -days 3650 -sha256 -extfile server.ext -out server.pem 2>/dev/null

chmod 600 server.key ca.key
rm -f ca.csr server.csr ca.ext server.ext ca.srl
openssl verify -CAfile ca.pem server.pem >/dev/null
