#!/bin/sh
# Makes the throw-away PKI the TLS tests use: CAs, server/client certificates, keys, DH params.
# Usage: scripts/gen-test-certs.sh DIR
# Idempotent: a complete DIR (marker file .complete-v1) is left alone. RSA-2048 and P-256
# keep it fast (well under 10 s); nothing here is meant for production.
set -eu

dir=${1:?usage: gen-test-certs.sh DIR}
marker="$dir/.complete-v1"
[ -f "$marker" ] && exit 0
mkdir -p "$dir"
cd "$dir"
rm -f ./*.pem ./*.key ./*.csr ./*.ext ./*.srl

days=3650
rsa() { openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1" 2>/dev/null; }
ec() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"; }

# sign NAME ISSUER SUBJECT SERIAL EXTFILE-TEXT: NAME.key must exist; writes NAME.pem
sign() {
  printf '%s\n' "$5" > "$1.ext"
  openssl req -new -utf8 -key "$1.key" -subj "$3" -out "$1.csr"
  openssl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" -set_serial "$4" \
    -days "$days" -sha256 -extfile "$1.ext" -out "$1.pem" 2>/dev/null
  rm -f "$1.csr" "$1.ext"
}

ca_ext='basicConstraints=critical,CA:TRUE
keyUsage=critical,keyCertSign,cRLSign
subjectKeyIdentifier=hash'
server_ext='basicConstraints=CA:FALSE
keyUsage=digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1'

# Root CA (RSA, self-signed) and an unrelated second root.
rsa ca.key
openssl req -x509 -new -key ca.key -subj '/C=DE/O=Acceptance CA/CN=Acceptance Root CA' \
  -days "$days" -sha256 -set_serial 1 -addext 'keyUsage=critical,keyCertSign,cRLSign' -out ca.pem
rsa other-ca.key
openssl req -x509 -new -key other-ca.key -subj '/C=FR/O=Other CA/CN=Other Root CA' \
  -days "$days" -sha256 -set_serial 2 -out other-ca.pem

# RSA server certificate: serial 4660 (0x1234), the SPEC example.
rsa server.key
sign server ca '/C=DE/ST=Berlin/O=Acceptance Server/CN=localhost' 4660 "$server_ext"
cat server.pem server.key > server-combined.pem
# The same key encrypted with the password "secret": PKCS#8 and traditional PEM.
openssl pkey -in server.key -aes256 -passout pass:secret -out server-enc.key
openssl rsa -in server.key -aes256 -traditional -passout pass:secret -out server-enc-trad.key 2>/dev/null

# ECDSA P-256 server certificate, signed by the RSA root.
ec ec-server.key
sign ec-server ca '/C=DE/ST=Berlin/O=Acceptance Server/CN=localhost' 4661 "$server_ext"
openssl ec -in ec-server.key -aes256 -passout pass:secret -out ec-server-enc.key 2>/dev/null

# EC intermediate CA under the root, an RSA leaf it signs (A_SIG ecdsa-with-SHA256), and the
# chain file in CERTCHAINFILE order: leaf first, then the intermediate.
ec inter.key
sign inter ca '/C=DE/O=Acceptance CA/OU=Intermediate/CN=Acceptance Intermediate CA' 16 "$ca_ext"
rsa chain-leaf.key
sign chain-leaf inter '/C=DE/L=Potsdam/O=Chained Server/CN=localhost' 123456789012345678901234567890 "$server_ext"
cat chain-leaf.pem inter.pem > chain.pem

# Client certificates: one with a SAN DNS name, one with only a CN, one from the other root,
# and one whose subject exercises the one-line DN escaping (UTF-8, '/', multi-valued RDN).
client_ext='basicConstraints=CA:FALSE
keyUsage=digitalSignature
extendedKeyUsage=clientAuth'
rsa client-san.key
sign client-san ca '/C=DE/O=Acceptance Clients/CN=Client With SAN' 8001 "$client_ext
subjectAltName=DNS:client.test.example,DNS:localhost"
rsa client-cn.key
sign client-cn ca '/C=DE/O=Acceptance Clients/CN=localhost' 8002 "$client_ext"
rsa client-other.key
sign client-other other-ca '/C=FR/O=Other Clients/CN=localhost' 8003 "$client_ext"
ec client-odd.key
sign client-odd ca '/C=DE/ST=Baden-Württemberg/L=Karlsruhe/O=Slash\/Corp/OU=Unit A+OU=Unit B/CN=Jörg Müller/emailAddress=joerg@example.test/title=Dr/GN=Jörg/SN=Müller/initials=JM/description=odd subject' 8004 "$client_ext"

# DH parameters: the RFC 7919 ffdhe2048 group (instant) and a DSA-style X9.42 file.
openssl genpkey -genparam -algorithm DH -pkeyopt group:ffdhe2048 -out dh2048.pem
openssl dhparam -dsaparam -out dh2048-x942.pem 2048 2>/dev/null

rm -f ./*.srl
touch "$marker"
