#!/usr/bin/env bash
# One event loop against several, on a warm server. Usage: bash bench/loops.sh [outfile]
#   For each certificate in CERTS (rsa2048 p256) and each of PAIRS (4) alternating pairs, starts
#   our server (as installed: its shebang's node flags) once with SSLSERVER_WORKERS=1 and once
#   with LOOPS (2), warms it with WARM (15) s of full handshakes at 16 in flight, then runs
#   `tlsload rate` for DURATION (5) s at each of CONC (4 16 64) in flight, and reads the CPU of
#   the network process and its spawners from /proc around each run. Prints one JSON line per
#   run (to outfile too, when given) and then, per certificate and concurrency, the medians and
#   the median (min-max) of the same-pair ratios LOOPS/1 for rate, server CPU per connection and
#   p99. bench.py's own rate workload starts a fresh server and warms it for 1 s: that is the
#   benchmark's view; this is a long-running server's.
# Needs the build of ../shared/bench (its tlsload, benchprog and certificates; bench.py build runs
# first) and a free PORT (9443).
set -euo pipefail
cd "$(dirname "$0")/.."
outfile=${1:-}
certs=${CERTS:-rsa2048 p256} pairs=${PAIRS:-4} loops=${LOOPS:-2} warm=${WARM:-15}
duration=${DURATION:-5} concs=${CONC:-4 16 64} port=${PORT:-9443}
# shellcheck source=bench/warm-server.sh
. bench/warm-server.sh
bench_init loops

# clock ticks of the network process and its spawners, together
ticks() {
  local t=0 p
  for p in "$pid" $(pgrep -P "$pid" -f sslserver-spawner || true); do
    t=$((t + $(awk '{ print $14 + $15 }' "/proc/$p/stat")))
  done
  echo "$t"
}

# run CERT WORKERS PAIR: one warm server, one JSON line per concurrency
run() {
  local cert=$1 workers=$2 pair=$3 c before after
  start_warm "$cert" "$port" "$warm" SSLSERVER_WORKERS="$workers"
  for c in $concs; do
    before=$(ticks)
    "$build/tlsload" rate -H 127.0.0.1 -p "$port" -c "$c" -d "$duration" | tail -n 1 >"$work/r.json"
    after=$(ticks)
    python3 - "$work/r.json" "$cert" "$workers" "$pair" "$c" "$before" "$after" "$(getconf CLK_TCK)" "$warm" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
cert, workers, pair, conc, t0, t1, hz, warm = sys.argv[2], *map(int, sys.argv[3:9]), float(sys.argv[9])
print(json.dumps({"cert": cert, "workers": workers, "pair": pair, "conc": conc, "warm_s": warm,
                  "conn_per_s": r["conn_per_s"], "ok": r["ok"],
                  "cpu_server_us_per_conn": round((t1 - t0) / hz / max(r["ok"], 1) * 1e6),
                  "lat_p99_ms": r["lat_p99_ms"]}))
EOF
  done
  stop
  sleep 1
}

results=$work/loops.jsonl
for cert in $certs; do
  for pair in $(seq "$pairs"); do
    if [ $((pair % 2)) = 1 ]; then order="1 $loops"; else order="$loops 1"; fi
    for w in $order; do
      run "$cert" "$w" "$pair" >"$work/one.jsonl"
      tee -a "$results" <"$work/one.jsonl"
    done
  done
done
python3 - "$results" "$loops" <<'EOF' | { if [ -n "$outfile" ]; then tee "$outfile"; else cat; fi; }
import collections, json, statistics as st, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
n = int(sys.argv[2])
by = collections.defaultdict(dict)
for r in rows:
    by[(r["cert"], r["conc"], r["pair"])][r["workers"]] = r
print(f"{n} loops against 1, warm, median (min-max) of same-pair ratios")
for cert, conc in sorted({(c, k) for c, k, _ in by}):
    ps = [v for (c, k, _), v in by.items() if c == cert and k == conc and 1 in v and n in v]
    def ratio(m):
        x = [p[n][m] / p[1][m] for p in ps]
        return f"x{st.median(x):.3f} ({min(x):.2f}-{max(x):.2f})"
    faster = sum(p[n]["conn_per_s"] > p[1]["conn_per_s"] for p in ps)
    print(f"{cert:8} c{conc:<3} conn/s {st.median(p[1]['conn_per_s'] for p in ps):.0f} -> "
          f"{st.median(p[n]['conn_per_s'] for p in ps):.0f} {ratio('conn_per_s')} faster {faster}/{len(ps)}; "
          f"server CPU {ratio('cpu_server_us_per_conn')}; p99 {ratio('lat_p99_ms')}")
EOF
