#!/usr/bin/env bash
# Where the event loop's wall time goes under load. Usage: bash bench/sched.sh [outfile]
#   Starts our server (as installed: its shebang's node flags; as root, so the started process
#   becomes the nobody network process beside its root spawner), warms it with WARM (3) s of full
#   handshakes at 16 in flight, then for each of CONC (4 16) runs `tlsload rate` for DURATION (5)
#   s with CERT (rsa2048) and reads around it, per connection: the loop thread's time on a CPU and
#   runnable but waiting for one (/proc/PID/schedstat), how often it was preempted and how often
#   it slept in epoll and was woken (fewer: more work done per wake-up), the CPU of the process's
#   other threads (V8's GC and compiler helpers) and of the spawner, and the machine's idle and
#   stolen time (/proc/stat). With perf (Debian's linux-perf), each run also records the
#   scheduler's switches, wake-ups and migrations for its middle PERF_SECONDS (2) and splits the
#   loop's waiting time by what held its CPU and by whether another CPU sat idle meanwhile (a
#   wait the scheduler could have avoided) or every CPU was busy (contention: only less CPU per
#   connection, ours or the others', shortens it). One JSON line per run (to outfile too, when
#   given), then a summary. TRACE=0 skips the perf part. TUNE, when set, is a command run with the
#   loop thread's id appended after the warm-up (e.g. TUNE='renice -n -5 -p'), to try a scheduling
#   setting against the default.
# Needs the build of ../shared/bench (its tlsload, benchprog and certificates; bench.py build runs
# first) and a free PORT (9444).
set -euo pipefail
cd "$(dirname "$0")/.."
outfile=${1:-}
cert=${CERT:-rsa2048} warm=${WARM:-3} duration=${DURATION:-5} concs=${CONC:-4 16}
port=${PORT:-9444} perf_seconds=${PERF_SECONDS:-2}
# shellcheck source=bench/warm-server.sh
. bench/warm-server.sh
bench_init sched

# snapshot FILE: the figures the run's deltas are taken from, one "name value..." per line
snapshot() {
  {
    echo "schedstat $(cat "/proc/$pid/schedstat")"
    echo "nonvoluntary $(awk '/^nonvoluntary_ctxt_switches/ { print $2 }' "/proc/$pid/status")"
    echo "voluntary $(awk '/^voluntary_ctxt_switches/ { print $2 }' "/proc/$pid/status")"
    local helpers=0 t
    for t in /proc/"$pid"/task/*; do
      [ "${t##*/}" = "$pid" ] || helpers=$((helpers + $(awk '{ print $14 + $15 }' "$t/stat")))
    done
    echo "helpers $helpers"
    local spawners=0 p
    for p in $(pgrep -P "$pid" -f sslserver-spawner || true); do
      spawners=$((spawners + $(awk '{ print $14 + $15 }' "/proc/$p/stat")))
    done
    echo "spawners $spawners"
    head -n 1 /proc/stat
  } >"$1"
}

start_warm "$cert" "$port" "$warm"
# shellcheck disable=SC2086 # TUNE is a command and its arguments
[ -z "${TUNE:-}" ] || $TUNE "$pid" >&2
tracing=0
[ "${TRACE:-1}" = 0 ] || ! command -v perf >/dev/null || tracing=1
results=$work/sched.jsonl
for c in $concs; do
  snapshot "$work/before"
  "$build/tlsload" rate -H 127.0.0.1 -p "$port" -c "$c" -d "$duration" | tail -n 1 >"$work/r.json" &
  load=$!
  rm -f "$work/sched.txt"
  if [ "$tracing" = 1 ]; then
    sleep "$(python3 -c "print(max(0.0, ($duration - $perf_seconds) / 2))")"
    perf record -q -a -e sched:sched_switch,sched:sched_wakeup,sched:sched_migrate_task \
      -o "$work/sched.perf" -- sleep "$perf_seconds" >/dev/null 2>&1 || true
    perf script -i "$work/sched.perf" -F cpu,time,event,trace >"$work/sched.txt" 2>/dev/null || true
  fi
  wait "$load"
  snapshot "$work/after"
  python3 - "$work/r.json" "$work/before" "$work/after" "$work/sched.txt" "$cert" "$c" "$pid" \
    "$(getconf CLK_TCK)" "$(nproc)" <<'EOF' | tee -a "$results"
import collections, json, os, re, sys

run = json.load(open(sys.argv[1]))
cert, conc, pid, hz, ncpu = sys.argv[5], int(sys.argv[6]), sys.argv[7], int(sys.argv[8]), int(sys.argv[9])

def snap(path):
    return {l.split()[0]: [int(x) for x in l.split()[1:]] for l in open(path)}

a, b = snap(sys.argv[2]), snap(sys.argv[3])
n = max(run["ok"], 1)
elapsed_ns = run["elapsed_s"] * 1e9
d = lambda k, i=0: b[k][i] - a[k][i]
stat_all = sum(b["cpu"]) - sum(a["cpu"])  # jiffies over every CPU (user .. steal)
rec = {
    "cert": cert, "conc": conc, "conn_per_s": run["conn_per_s"], "ok": run["ok"],
    "loop_run_us": round(d("schedstat", 0) / n / 1e3),
    "loop_wait_us": round(d("schedstat", 1) / n / 1e3),
    "loop_run_pct": round(100 * d("schedstat", 0) / elapsed_ns, 1),
    "loop_wait_pct": round(100 * d("schedstat", 1) / elapsed_ns, 1),
    "loop_preempted_per_conn": round(d("nonvoluntary") / n, 2),
    # each time the loop went to sleep in epoll and was woken again
    "loop_wakeups_per_conn": round(d("voluntary") / n, 2),
    "helpers_us": round(d("helpers") / hz / n * 1e6),
    "spawner_us": round(d("spawners") / hz / n * 1e6),
    # /proc/stat's cpu line: user nice system idle iowait irq softirq steal
    "machine_idle_pct": round(100 * (d("cpu", 3) + d("cpu", 4)) / max(stat_all, 1), 1),
    "machine_steal_pct": round(100 * d("cpu", 7) / max(stat_all, 1), 1),
}

# The trace: integrate over time while the loop thread is runnable but not running: who holds
# the CPU it is queued on, and whether some other CPU is idle meanwhile.
path = sys.argv[4]
if os.path.exists(path) and os.path.getsize(path) > 0:
    ev_re = re.compile(r"\s*\[(\d+)\]\s+([\d.]+):\s+sched:(\w+):\s+(.*)")
    sw_re = re.compile(r"prev_comm=(.*?) prev_pid=(\d+) prev_prio=\d+ prev_state=(\S+) ==> next_comm=(.*?) next_pid=(\d+)")
    on = {}  # cpu -> comm now running ("idle" for the idle task)
    waiting, queued_on, last = False, None, None
    held = collections.Counter()
    idle_elsewhere = busy_everywhere = 0.0
    first = None
    for line in open(path):
        m = ev_re.match(line)
        if not m:
            continue
        cpu, t, ev, rest = int(m.group(1)), float(m.group(2)), m.group(3), m.group(4)
        first = t if first is None else first
        if waiting and last is not None and len(on) == ncpu:
            dt = t - last
            holder = on.get(queued_on, "?")
            held[re.sub(r"/\d+$", "", holder)] += dt
            if any(c != queued_on and on[c] == "idle" for c in on):
                idle_elsewhere += dt
            else:
                busy_everywhere += dt
        last = t
        if ev == "sched_switch":
            s = sw_re.search(rest)
            if not s:
                continue
            prev_pid, prev_state, next_comm, next_pid = s.group(2), s.group(3), s.group(4), s.group(5)
            on[cpu] = "idle" if next_pid == "0" else next_comm
            if prev_pid == pid and prev_state.startswith("R"):
                waiting, queued_on = True, cpu
            if next_pid == pid:
                waiting = False
        elif ev == "sched_wakeup":
            w = re.search(r"pid=(\d+) .*target_cpu=(\d+)", rest)
            if w and w.group(1) == pid:
                waiting, queued_on = True, int(w.group(2))
        elif ev == "sched_migrate_task":
            w = re.search(r"pid=(\d+) .*dest_cpu=(\d+)", rest)
            if w and w.group(1) == pid and waiting:
                queued_on = int(w.group(2))
    span = (last - first) if first is not None and last != first else None
    if span:
        rec["traced_s"] = round(span, 2)
        rec["wait_idle_elsewhere_pct"] = round(100 * idle_elsewhere / span, 1)
        rec["wait_all_busy_pct"] = round(100 * busy_everywhere / span, 1)
        rec["wait_held_by_pct"] = {k: round(100 * v / span, 1) for k, v in held.most_common(6)}
print(json.dumps(rec))
EOF
done
stop
python3 - "$results" <<'EOF' | { if [ -n "$outfile" ]; then tee -a "$outfile"; else cat; fi; }
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print("per connection (us) and share of the wall time (%) of the loop thread; machine idle and stolen %")
for r in rows:
    line = (f"{r['cert']:8} c{r['conc']:<3} {r['conn_per_s']:6.0f} conn/s  loop running {r['loop_run_us']} us "
            f"({r['loop_run_pct']}%), runnable waiting {r['loop_wait_us']} us ({r['loop_wait_pct']}%), "
            f"preempted {r['loop_preempted_per_conn']}/conn, woken {r['loop_wakeups_per_conn']}/conn; "
            f"helper threads {r['helpers_us']} us, spawner {r['spawner_us']} us; "
            f"machine idle {r['machine_idle_pct']}%, stolen {r['machine_steal_pct']}%")
    print(line)
    if "traced_s" in r:
        held = ", ".join(f"{k} {v}%" for k, v in r["wait_held_by_pct"].items())
        print(f"{'':13} traced {r['traced_s']} s: the loop waited with another CPU idle "
              f"{r['wait_idle_elsewhere_pct']}% of the time, with every CPU busy "
              f"{r['wait_all_busy_pct']}%; its CPU held by: {held}")
EOF
if [ -n "$outfile" ]; then cat "$results" >>"$outfile"; fi
