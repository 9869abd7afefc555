#!/usr/bin/env bash
# Benchmarks. Usage: bash bench/run.sh [rules|spawn|server|all]
#   rules   cdb lookups (10 and 1,000,000 rules) and tcprules compile time (1,000,000 lines)
#   spawn   programs started per second: native addon vs child_process
#   server  rate, bulk and idle memory of our sslserver against the peers on this machine, with
#           ../shared/bench (stunnel, socat, naive Node); quick mode (QUICK=0 for the long run)
# Set-up first (scripts/setup.sh), so it works on a fresh clone. Results are JSON lines on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-rules}
bash scripts/setup.sh >&2

rules() {
  node dist/bench/cdb-bench.js
  node dist/bench/tcprules-bench.js 1000000
}
spawn() {
  node dist/bench/spawn-bench.js 2000
}
server() {
  local shared=${SHARED_BENCH:-../shared/bench}
  [ -f "$shared/bench.py" ] || { echo "bench: $shared/bench.py not found (set SHARED_BENCH)" >&2; exit 111; }
  local ours="ours=node $PWD/dist/src/cli/sslserver.js -H -R -l localhost -c 4000 -b 1024 {host} {port} {prog}"
  python3 "$shared/bench.py" build >&2
  if [ "${QUICK:-1}" = 1 ]; then
    python3 "$shared/bench.py" compare --extra "$ours" --servers ours,stunnel,naive-node \
      --workloads rate,bulk,idlemem --repeat 1 --duration 5 --conc 16 --bytes 268435456 --conns 300 --baseline stunnel
  else
    python3 "$shared/bench.py" compare --extra "$ours" --servers ours,stunnel,socat-nodelay,naive-node,node-tls-floor \
      --workloads rate,bulk,idlemem --repeat 5 --baseline stunnel
  fi
}
case "$what" in
  rules) rules ;;
  spawn) spawn ;;
  server) server ;;
  all) rules; spawn; server ;;
  *) echo "usage: bash bench/run.sh [rules|spawn|server|all]" >&2; exit 100 ;;
esac
