#!/usr/bin/env bash
# Where our sslserver's CPU goes under load. Usage: bash bench/profile.sh [rate|bulk] [outfile]
#   rate (default): full handshakes at CONC (16) in flight for DURATION (5) s with CERT (rsa2048;
#     rsa2048+resume for resumed handshakes, --cpu-prof part only)
#     1. perf over the server's whole process tree (../shared/bench/bench.py profile; the server
#        runs with --perf-basic-prof so JIT frames have names): shares by process and library,
#        top symbols;
#        then microseconds per connection by layer (bench/perf-layers.py), next to the same
#        profile of PEER when set (e.g. PEER=node-tls-floor: what Node's TLS alone costs);
#     2. node --cpu-prof of the server under the same load (bench.py rate): JS self time by
#        function and file, inclusive time of our functions (bench/cpuprofile-summary.py).
#   bulk: --cpu-prof only, for BYTES (256 MiB) up and then down (bench.py bulk).
# The summary goes to stdout and, when given, to outfile. Needs a build (npm run build) and, for
# perf, Debian's linux-perf; without perf only the --cpu-prof part runs.
# SERVER_JS picks another build of the server (default: dist/src/cli/sslserver.js here).
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-rate}
outfile=${2:-}
shared=${SHARED_BENCH:-../shared/bench}
server_js=${SERVER_JS:-$PWD/dist/src/cli/sslserver.js}
cert=${CERT:-rsa2048} conc=${CONC:-16} duration=${DURATION:-5} bytes=${BYTES:-268435456}
args="-H -R -l localhost -c 4000 -b 1024 {host} {port} {prog}"
# node runs the server with the flags of its shebang (`#!/usr/bin/env -S node FLAGS`), as installed
node="node $(sed -n '1s/^#!.*env -S node//p' "$server_js" 2>/dev/null)"
work=$(mktemp -d /tmp/ucspi-ts-profile.XXXXXX)
trap 'rm -rf "$work"' EXIT
# a root start drops the network process to nobody (src/priv): it must be able to write its profile
chmod 755 "$work" && mkdir -m 1777 "$work/cpuprof"
[ -f "$server_js" ] || { echo "profile: $server_js not found (npm run build)" >&2; exit 111; }
python3 "$shared/bench.py" build >&2

# PERF_DATA:CONN_PER_S of the last record of a bench.py profile output
perf_run() {
  python3 - "$1" <<'EOF'
import json, sys
r = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")][-1]
print(f"{r['perf_data']}:{r['conn_per_s']}")
EOF
}

summary() {
  echo "profile: $what, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), server $server_js"
  if [ "$what" = rate ]; then
    echo "load: cert $cert, $conc in flight, $duration s"
    if [[ $cert == *+* ]]; then
      echo "perf: bench.py profile takes no +resume; --cpu-prof only"
    elif command -v perf >/dev/null; then
      # --perf-basic-prof also opens V8's log: keep it in the work directory, not in the clone
      python3 "$shared/bench.py" profile --server "ours=$node --perf-basic-prof --no-logfile-per-isolate --logfile=$work/v8.log $server_js $args" --cert "$cert" \
        --conc "$conc" --duration "$duration" --out "$work/perf.jsonl" >/dev/null
      python3 - "$work/perf.jsonl" <<'EOF'
import json, sys
r = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")][-1]
print(f"perf: {r['conn_per_s']} conn/s during the profile; % of samples by process: "
      + ", ".join(f"{k} {v}" for k, v in sorted(r["pct_by_comm"].items(), key=lambda kv: -kv[1])))
print("perf pct_by_comm_dso (top 10):")
for pct, comm, dso in r["pct_by_comm_dso"][:10]:
    print(f"  {pct:5.1f}%  {comm:10} {dso}")
print("perf top_symbols (top 25):")
for pct, comm, sym in r["top_symbols"][:25]:
    print(f"  {pct:5.1f}%  {comm:10} {sym[:110]}")
EOF
      # by layer, per connection, next to the same profile of a peer (PEER, e.g. node-tls-floor)
      layers=("ours=$(perf_run "$work/perf.jsonl")")
      if [ -n "${PEER:-}" ]; then
        python3 "$shared/bench.py" profile --server "$PEER" --cert "$cert" --conc "$conc" \
          --duration "$duration" --out "$work/peer.jsonl" >/dev/null
        layers+=("$PEER=$(perf_run "$work/peer.jsonl")")
      fi
      # the run's last seconds: past the warm-up's compiles, before the server stops
      window=$(awk -v d="$duration" 'BEGIN { print (d >= 2 ? d - 1 : d / 2) }')
      echo "perf by layer, the last $window s of the run:"
      python3 bench/perf-layers.py --seconds "$window" "${layers[@]}"
    else
      echo "perf: not installed (Debian package linux-perf); --cpu-prof only"
    fi
    python3 "$shared/bench.py" rate --server "ours=$node --cpu-prof --cpu-prof-dir=$work/cpuprof $server_js $args" \
      --cert "$cert" --conc "$conc" --duration "$duration" --out "$work/rate.jsonl" >/dev/null
    python3 - "$work/rate.jsonl" <<'EOF'
import json, sys
r = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")][-1]
print(f"cpu-prof run: {r['conn_per_s']} conn/s, server CPU {r['cpu_server_us_per_conn']} us/conn, "
      f"program {r['cpu_prog_us_per_conn']} us/conn, other load {r['cpu_other_s']} s (profiler overhead included)")
EOF
  else
    echo "load: bulk $bytes bytes up, then down"
    python3 "$shared/bench.py" bulk --server "ours=$node --cpu-prof --cpu-prof-dir=$work/cpuprof $server_js $args" \
      --bytes "$bytes" --out "$work/bulk.jsonl" >/dev/null
    python3 - "$work/bulk.jsonl" <<'EOF'
import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    print(f"cpu-prof run: bulk {r['dir']} {r['MB_per_s']} MB/s, server CPU {r['cpu_server_s_per_GB']} s/GB")
EOF
  fi
  python3 bench/cpuprofile-summary.py --top 20 "$work/cpuprof"
}

if [ -n "$outfile" ]; then
  mkdir -p "$(dirname "$outfile")"
  summary | tee "$outfile"
else
  summary
fi
