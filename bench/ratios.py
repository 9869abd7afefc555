#!/usr/bin/env python3
"""ratios.py: our server against each peer, from ../shared/bench JSON lines.

    python3 bench/ratios.py RESULTS.jsonl [--ours ours]

Reads the per-round records bench.py writes (its own `"summary": true` lines and failed runs
are skipped), pairs our record with each peer's of the same round, workload, certificate and
case, and prints one row per metric: our median, then each peer's median and the median of
the same-round ratios ours/peer (min-max when there was more than one round). The last column
checks issue #9's target for that row, where it sets one. Under the table, when bench/run.sh
wrote them (`"workload": "machine"` lines), the CPU time the host stole from this VM in each
phase of the run: how noisy the run was. Python 3 standard library only.
"""
import argparse
import json
import statistics
import sys

# (workload, metric, label, higher_is_better, format)
ROWS = [
    ("rate", "conn_per_s", "conn/s", True, "{:.0f}"),
    ("rate", "cpu_server_us_per_conn", "server CPU us/conn", False, "{:.0f}"),
    ("rate", "lat_p99_ms", "p99 ms", False, "{:.0f}"),
    ("bulk", "MB_per_s", "MB/s", True, "{:.0f}"),
    ("bulk", "cpu_server_s_per_GB", "server CPU s/GB", False, "{:.2f}"),
    ("idlemem", "kb_per_conn_marginal", "KiB/conn marginal", False, "{:.1f}"),
    ("idlemem", "server_pss_kb_base", "base KiB", False, "{:.0f}"),
]

# Issue #9's targets: (workload, metric, cert or None for any, case or None for any, peer or None
# for an absolute bound, bound, 'min' (value or ratio >= bound) or 'max' (<= bound)). The p99
# bound is the "at 16 in flight", for both full-handshake certificates.
TARGETS = [
    ("rate", "conn_per_s", "rsa2048", None, "stunnel", 1.6, "min"),
    ("rate", "conn_per_s", "p256", None, "stunnel", 1.6, "min"),
    ("rate", "conn_per_s", "rsa2048", None, "naive-node", 1.75, "min"),
    ("rate", "conn_per_s", "p256", None, "naive-node", 1.75, "min"),
    ("rate", "conn_per_s", "rsa2048+resume", None, "stunnel", 1.7, "min"),
    ("rate", "cpu_server_us_per_conn", "rsa2048", None, "stunnel", 0.56, "max"),
    ("rate", "cpu_server_us_per_conn", "p256", None, "stunnel", 0.56, "max"),
    ("rate", "lat_p99_ms", "rsa2048", "c16", "stunnel", 0.5, "max"),
    ("rate", "lat_p99_ms", "p256", "c16", "stunnel", 0.5, "max"),
    ("bulk", "MB_per_s", None, None, "stunnel", 1.05, "min"),
    ("idlemem", "kb_per_conn_marginal", None, None, None, 40.0, "max"),
    ("idlemem", "server_pss_kb_base", None, None, None, 45 * 1024.0, "max"),
]


# Column order: the main reference first.
PEER_ORDER = ["stunnel", "socat-nodelay", "socat", "naive-node", "node-tls-floor", "sslserver", "tcpserver"]


def case_of(rec):
    w = rec["workload"]
    if w == "rate":
        return f"c{rec['conc']}"
    if w == "bulk":
        return rec["dir"]
    return f"n{rec['conns']}"


def load(path):
    """({(workload, cert, case): {server: {round: record}}} of the successful runs, bench/run.sh's
    "machine" records in file order)."""
    groups, machine = {}, []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line.startswith("{"):
                continue
            rec = json.loads(line)
            if rec.get("workload") == "machine":
                machine.append(rec)
                continue
            if rec.get("summary") or "error" in rec or rec.get("workload") not in ("rate", "bulk", "idlemem"):
                continue
            key = (rec["workload"], rec["cert"], case_of(rec))
            groups.setdefault(key, {}).setdefault(rec["server"], {})[rec.get("round", 0)] = rec
    return groups, machine


def machine_line(phases):
    """One line on the host's stolen CPU time per phase of the run, or None when not recorded."""
    if not phases:
        return None
    wall = sum(p["elapsed_s"] for p in phases)
    stolen = sum(p["stolen_s"] for p in phases)
    cpus = phases[0]["cpus"]
    each = ", ".join(f"{p['phase']} {p['stolen_s']:.1f} of {p['elapsed_s']:.0f} s" for p in phases)
    share = f"{100 * stolen / (wall * cpus):.1f}%; " if wall > 0 and cpus > 0 else ""
    return (f"host: {stolen:.1f} s of CPU stolen from this VM's {cpus} CPUs over {wall:.0f} s "
            f"({share}{each}); idle {sum(p['idle_s'] for p in phases):.0f} s")


def spread(vals, fmt):
    med = fmt.format(statistics.median(vals))
    if len(vals) == 1:
        return med
    return f"{med} ({fmt.format(min(vals))}-{fmt.format(max(vals))})"


def target_for(workload, metric, cert, case):
    out = []
    for w, m, c, k, peer, bound, kind in TARGETS:
        if w == workload and m == metric and (c is None or c == cert) and (k is None or k == case):
            out.append((peer, bound, kind))
    return out


def check(value, bound, kind):
    return value >= bound if kind == "min" else value <= bound


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results")
    ap.add_argument("--ours", default="ours", help="our server's name in the results (default: ours)")
    a = ap.parse_args()
    groups, machine = load(a.results)
    if not groups:
        print(f"ratios: no results in {a.results}", file=sys.stderr)
        sys.exit(111)
    present = {s for g in groups.values() for s in g if s != a.ours}
    peers = [p for p in PEER_ORDER if p in present] + sorted(present - set(PEER_ORDER))
    head = ["workload", "cert", "case", "metric", a.ours] + [f"{p} (x ours/{p})" for p in peers] + ["issue #9 target"]
    rows = []
    for w, metric, lab, _higher, fmt in ROWS:
        for key in sorted(k for k in groups if k[0] == w):
            by_server = groups[key]
            ours = by_server.get(a.ours, {})
            our_vals = [r[metric] for r in ours.values() if r.get(metric) is not None]
            if not our_vals:
                continue
            row = [w, key[1], key[2], lab, spread(our_vals, fmt)]
            ratio_med = {}
            for p in peers:
                theirs = by_server.get(p, {})
                vals = [r[metric] for r in theirs.values() if r.get(metric) is not None]
                ratios = [ours[rnd][metric] / theirs[rnd][metric] for rnd in ours
                          if rnd in theirs and ours[rnd].get(metric) is not None and theirs[rnd].get(metric)]
                if not vals:
                    row.append("-")
                    continue
                cell = spread(vals, fmt)
                if ratios:
                    ratio_med[p] = statistics.median(ratios)
                    cell += f" x{spread(ratios, '{:.2f}')}"
                row.append(cell)
            verdicts = []
            for peer, bound, kind in target_for(w, metric, key[1], key[2]):
                sign = ">=" if kind == "min" else "<="
                if peer is None:
                    v = statistics.median(our_vals)
                    verdicts.append(f"{sign}{fmt.format(bound)} {'ok' if check(v, bound, kind) else 'MISS'}")
                elif peer in ratio_med:
                    ok = check(ratio_med[peer], bound, kind)
                    verdicts.append(f"{sign}x{bound} {peer} {'ok' if ok else 'MISS'}")
            row.append("; ".join(verdicts))
            rows.append(row)
    widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]
    for r in [head] + rows:
        print("  ".join(str(c).ljust(widths[i]) for i, c in enumerate(r)).rstrip())
    host = machine_line(machine)
    if host:
        print(host)


if __name__ == "__main__":
    main()
