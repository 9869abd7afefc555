#!/usr/bin/env bash
# Benchmarks. Usage: bash bench/run.sh [rules|spawn|quick|full|server|all]
#   rules   cdb lookups (10 and 1,000,000 rules) and tcprules compile time (1,000,000 lines)
#   spawn   programs started per second: native addon vs child_process
#   quick   our sslserver against the peers on this machine with ../shared/bench, in under
#           2 minutes on 2 cores: full-handshake rate (RSA-2048, P-256) and resumed rate
#           (rsa2048+resume) at 16 in flight, 2 s each; bulk 64 MiB up and down (not 1 GiB);
#           200 idle connections (not 1000); one round. Peers: stunnel, socat-nodelay,
#           naive-node, node-tls-floor (rate only).
#   full    issue #9's comparison: the same servers, RSA-2048 and P-256 at 4/16/64 in flight
#           5 s each, rsa2048+resume at 16, bulk 1 GiB both ways, 1000 idle connections,
#           5 interleaved rounds (about 30 minutes)
#   server  quick (QUICK=0: full), as before
# The comparisons write bench.py's JSON lines to $BENCH_OUT/<mode>-<time>.jsonl (default
# BENCH_OUT=/tmp/ucspi-ts-bench), print its path and then a table of ours/peer ratios
# (bench/ratios.py). BENCH_DURATION, BENCH_REPEAT, BENCH_BYTES, BENCH_CONNS override the mode's
# rate seconds, rounds, bulk bytes and idle connections (e.g. a tiny run to check the commands).
# Set-up: scripts/setup.sh on a fresh clone (no node_modules or addon) or with SETUP=1, else
# only the TypeScript build, so that a run measures the current sources.
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-rules}

if [ "${SETUP:-0}" = 1 ] || [ ! -d node_modules/typescript ] || [ ! -f build/Release/sslserver_native.node ]; then
  bash scripts/setup.sh >&2
else
  npm run --silent build >&2
fi

rules() {
  node dist/bench/cdb-bench.js
  node dist/bench/tcprules-bench.js 1000000
}
spawn() {
  node dist/bench/spawn-bench.js 2000
}

# machine_ticks: the machine's idle (with I/O wait) and stolen CPU time so far, in clock ticks,
# from /proc/stat's first line
machine_ticks() {
  LC_ALL=C awk '/^cpu / { print $5 + $6, $9 }' /proc/stat
}

# phase RESULTS NAME COMMAND...: runs COMMAND, then appends to RESULTS one JSON line with the
# wall time, idle time and the CPU time the host stole from this VM meanwhile (ratios.py prints
# it under the table: on a shared host the stolen time says how noisy the run was)
phase() {
  local results=$1 name=$2
  shift 2
  local t0=${EPOCHREALTIME/,/.} before
  before=$(machine_ticks)
  "$@"
  echo "$name $t0 ${EPOCHREALTIME/,/.} $before $(machine_ticks) $(getconf CLK_TCK) $(nproc)" | LC_ALL=C awk '{
    printf "{\"workload\": \"machine\", \"phase\": \"%s\", \"elapsed_s\": %.1f, \"idle_s\": %.1f, \"stolen_s\": %.1f, \"cpus\": %d}\n",
      $1, $3 - $2, ($6 - $4) / $8, ($7 - $5) / $8, $9 }' >>"$results"
}

# compare MODE: the peer comparison; quick or full.
compare() {
  local mode=$1
  local shared=${SHARED_BENCH:-../shared/bench}
  [ -f "$shared/bench.py" ] || { echo "bench: $shared/bench.py not found (set SHARED_BENCH)" >&2; exit 111; }
  # the command as installed: its shebang runs node with the flags it needs
  local ours="ours=$PWD/dist/src/cli/sslserver.js -H -R -l localhost -c 4000 -b 1024 {host} {port} {prog}"
  local out=${BENCH_OUT:-/tmp/ucspi-ts-bench}
  mkdir -p "$out"
  local results
  results="$out/$mode-$(date +%Y%m%d-%H%M%S).jsonl"
  local duration repeat bytes conns conc warmup settle
  if [ "$mode" = quick ]; then
    duration=2 repeat=1 bytes=$((64 << 20)) conns=200 conc=16 warmup=0.5 settle=1
  else
    duration=5 repeat=5 bytes=$((1 << 30)) conns=1000 conc=4,16,64 warmup=1 settle=2
  fi
  duration=${BENCH_DURATION:-$duration} repeat=${BENCH_REPEAT:-$repeat}
  bytes=${BENCH_BYTES:-$bytes} conns=${BENCH_CONNS:-$conns}
  local bench=(python3 "$shared/bench.py")
  local common=(--extra "$ours" --baseline stunnel --repeat "$repeat" --out "$results")
  "${bench[@]}" build >&2
  echo "bench: $mode comparison, results in $results" >&2
  local t0=$SECONDS
  # bench.py's JSON lines go to $results (--out); its progress and own tables to stderr
  # node-tls-floor serves no program, so it takes part in the rate only
  local peers=stunnel,socat-nodelay,naive-node
  phase "$results" rate "${bench[@]}" compare "${common[@]}" --workloads rate --servers "$peers,node-tls-floor" \
    --certs rsa2048,p256 --conc "$conc" --duration "$duration" --warmup "$warmup" >/dev/null
  phase "$results" resumed "${bench[@]}" compare "${common[@]}" --workloads rate --servers "$peers,node-tls-floor" \
    --certs rsa2048+resume --conc 16 --duration "$duration" --warmup "$warmup" >/dev/null
  phase "$results" bulk+idlemem "${bench[@]}" compare "${common[@]}" --workloads bulk,idlemem --servers "$peers" \
    --certs rsa2048 --bytes "$bytes" --conns "$conns" --settle "$settle" >/dev/null
  echo
  echo "$mode: rate ${duration} s per case, bulk $bytes bytes, $conns idle connections, $repeat round(s); $((SECONDS - t0)) s"
  echo "results: $results"
  python3 bench/ratios.py "$results"
}

case "$what" in
  rules) rules ;;
  spawn) spawn ;;
  quick) compare quick ;;
  full) compare full ;;
  server) if [ "${QUICK:-1}" = 1 ]; then compare quick; else compare full; fi ;;
  all) rules; spawn; compare quick ;;
  *) echo "usage: bash bench/run.sh [rules|spawn|quick|full|server|all]" >&2; exit 100 ;;
esac
