#!/usr/bin/env python3
"""cpuprofile-summary.py: where a Node process spent its CPU, from `node --cpu-prof` files.

    python3 bench/cpuprofile-summary.py DIR_OR_FILE... [--top 25]

Reads every *.cpuprofile given (a directory means all of its *.cpuprofile files: one per
process or worker, summed), and prints self time by function, self time by file (our code
under dist/ separately from Node's internals), and inclusive time of our own functions.
Self time of a node = the sum of the timeDeltas of the samples taken in it (the Chrome
DevTools profile format: nodes[], samples[], timeDeltas[]). `(idle)` is left out of the shares,
which are of the busy samples only. Busy is JavaScript, the native calls it makes, GC and
`(program)`; `(idle)` is the loop waiting, but also native work that I/O callbacks do outside
JavaScript: a TLS handshake's crypto lands there (measured: at RSA-2048, 4 in flight, the loop
thread used 5.3 s of CPU in 6 s while the profile of the same server counted 1.7 s busy over its
whole life). perf (bench/profile.sh) sees the whole thread. Python 3 standard library only.
"""
import argparse
import glob
import json
import os
import sys

# Pseudo-frames V8 writes: not JS functions.
IDLE = "(idle)"


def profile_files(paths):
    out = []
    for p in paths:
        if os.path.isdir(p):
            out += sorted(glob.glob(os.path.join(p, "*.cpuprofile")))
        else:
            out.append(p)
    return out


def short_url(url):
    """dist/src/x/y.js for our files, node:internal/... for Node's, else the base name."""
    if not url:
        return ""
    i = url.find("/dist/")
    if i >= 0:
        return url[i + 1:]
    if url.startswith("node:"):
        return url
    return os.path.basename(url)


def label(frame):
    name = frame.get("functionName") or "(anonymous)"
    url = short_url(frame.get("url", ""))
    if not url:
        return name
    return f"{name} {url}:{frame.get('lineNumber', -1) + 1}"


def load(path):
    """(self_us by node id, nodes by id, parent by id) of one profile."""
    with open(path) as f:
        prof = json.load(f)
    nodes = {n["id"]: n for n in prof["nodes"]}
    parent = {}
    for n in prof["nodes"]:
        for c in n.get("children", []):
            parent[c] = n["id"]
    self_us = {}
    samples = prof.get("samples", [])
    deltas = prof.get("timeDeltas", [])
    # timeDeltas[i] is the time from sample i-1 to sample i: charge it to sample i's node,
    # as DevTools does (the first delta is from the profile's start).
    for sid, dt in zip(samples, deltas):
        self_us[sid] = self_us.get(sid, 0) + max(dt, 0)
    return self_us, nodes, parent


def summarize(files, top):
    by_func, by_file, ours_incl = {}, {}, {}
    busy = idle = 0
    for path in files:
        self_us, nodes, parent = load(path)
        for nid, us in self_us.items():
            frame = nodes[nid]["callFrame"]
            name = frame.get("functionName", "")
            if name == IDLE:
                idle += us
                continue
            busy += us
            lab = label(frame)
            by_func[lab] = by_func.get(lab, 0) + us
            url = short_url(frame.get("url", ""))
            key = url if url else name  # (program), (garbage collector), native builtins
            by_file[key] = by_file.get(key, 0) + us
            # inclusive time of our own functions: each distinct one on this sample's stack once
            seen = set()
            p = nid
            while p is not None:
                fr = nodes[p]["callFrame"]
                if "/dist/" in fr.get("url", ""):
                    lab2 = label(fr)
                    if lab2 not in seen:
                        seen.add(lab2)
                        ours_incl[lab2] = ours_incl.get(lab2, 0) + us
                p = parent.get(p)
    return busy, idle, by_func, by_file, ours_incl


def table(title, d, busy, top):
    lines = [title]
    for k, us in sorted(d.items(), key=lambda kv: -kv[1])[:top]:
        lines.append(f"  {100.0 * us / busy:5.1f}%  {us / 1000:8.1f} ms  {k}")
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("paths", nargs="+")
    ap.add_argument("--top", type=int, default=25)
    a = ap.parse_args()
    files = profile_files(a.paths)
    if not files:
        print("cpuprofile-summary: no .cpuprofile files in " + " ".join(a.paths), file=sys.stderr)
        sys.exit(111)
    busy, idle, by_func, by_file, ours_incl = summarize(files, a.top)
    if busy == 0:
        print("cpuprofile-summary: no busy samples", file=sys.stderr)
        sys.exit(111)
    ours = sum(us for k, us in by_file.items() if k.startswith("dist/"))
    out = [f"cpu-prof: {len(files)} file(s), busy {busy / 1e6:.2f} s, idle {idle / 1e6:.2f} s;"
           f" our JS (dist/) self {100.0 * ours / busy:.1f}% of busy"]
    out += table("self time by function (% of busy):", by_func, busy, a.top)
    out += table("self time by file:", by_file, busy, min(a.top, 15))
    out += table("inclusive time of our functions (dist/):", ours_incl, busy, min(a.top, 15))
    print("\n".join(out))


if __name__ == "__main__":
    main()
