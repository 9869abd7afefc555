#!/usr/bin/env bash
# The main job: sets up (scripts/setup.sh), walks through tcprules/tcprulescheck, then runs a TLS
# demo server on loopback with a freshly generated test certificate and examples/greet.sh, and a
# STARTTLS mail server (sslserver -n + examples/smtp-starttls.js).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

DEMO=${DEMO_DIR:-/tmp/ucspi-ssl-ts-demo}
PORT=${DEMO_PORT:-4433}
mkdir -p "$DEMO"
node=$(command -v node)

echo "== 1. a test certificate (self-signed CA + server certificate for localhost) in $DEMO/certs"
sh scripts/gen-test-certs.sh "$DEMO/certs"

echo "== 2. rules: compile $DEMO/rules.txt with tcprules"
cat > "$DEMO/rules.txt" <<'RULES'
# deny one address, greet loopback, refuse everyone else
127.0.0.2:deny
127.0.0.0/8:allow,GREETING="welcome, loopback"
::1:allow,GREETING="welcome, IPv6 loopback"
:deny
RULES
"$node" dist/src/cli/tcprules.js "$DEMO/rules.cdb" "$DEMO/rules.tmp" < "$DEMO/rules.txt"
echo "   tcprules exit $?"
for ip in 127.0.0.1 127.0.0.2 192.0.2.7 ::1; do
  echo "-- tcprulescheck for TCPREMOTEIP=$ip"
  env - TCPREMOTEIP="$ip" "$node" dist/src/cli/tcprulescheck.js "$DEMO/rules.cdb" | sed 's/^/   /'
done

SMTP_PORT=${DEMO_SMTP_PORT:-2525}
export CERTFILE="$DEMO/certs/server.pem" KEYFILE="$DEMO/certs/server.key" DHFILE=

echo "== 3. a mail server with STARTTLS through UCSPI-TLS (-n) on 127.0.0.1:$SMTP_PORT, mail in $DEMO/mail.mbox"
SMTP_SPOOL="$DEMO/mail.mbox" "$node" dist/src/cli/sslserver.js -v -n -H -R -l localhost \
  127.0.0.1 "$SMTP_PORT" examples/smtp-starttls.js &
smtp=$!
trap 'kill "$smtp" 2>/dev/null' EXIT

echo "== 4. sslserver on 127.0.0.1:$PORT and [::1]:$PORT (Ctrl-C stops both). Try:"
echo "   openssl s_client -connect 127.0.0.1:$PORT -quiet"
echo "   openssl s_client -connect '[::1]:$PORT' -quiet"
echo "   swaks --server 127.0.0.1:$SMTP_PORT --tls --tls-ca-path $DEMO/certs/ca.pem --to you@example.test"
echo "   openssl s_client -connect 127.0.0.1:$SMTP_PORT -starttls smtp -CAfile $DEMO/certs/ca.pem -crlf"
"$node" dist/src/cli/sslserver.js -v -s -H -R -l localhost -x "$DEMO/rules.cdb" :0 "$PORT" examples/greet.sh
