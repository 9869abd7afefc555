#!/usr/bin/env bash
# The main job: sets up (scripts/setup.sh), walks through tcprules/tcprulescheck, then runs a TLS
# demo server on loopback with a freshly generated test certificate and examples/greet.sh.
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

echo "== 3. sslserver on 127.0.0.1:$PORT and [::1]:$PORT (Ctrl-C stops it). Try:"
echo "   openssl s_client -connect 127.0.0.1:$PORT -quiet"
echo "   openssl s_client -connect '[::1]:$PORT' -quiet"
export CERTFILE="$DEMO/certs/server.pem" KEYFILE="$DEMO/certs/server.key" DHFILE=
exec "$node" dist/src/cli/sslserver.js -v -s -H -R -l localhost -x "$DEMO/rules.cdb" :0 "$PORT" examples/greet.sh
