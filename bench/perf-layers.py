#!/usr/bin/env python3
"""perf-layers.py: a rate profile's CPU per connection, by layer, for one or more servers.

    python3 bench/perf-layers.py [--seconds W] NAME=PERF_DATA:CONN_PER_S [NAME=...]

PERF_DATA is what `../shared/bench/bench.py profile` recorded (perf over the server's whole
process tree: warm-up, then the measured run) and CONN_PER_S the rate it reported. Only the
last W seconds of samples before the last 0.3 s are counted (default 4: inside a 5 s run, past
the warm-up and before the server is stopped), and they are divided by CONN_PER_S * W
connections, so each row is microseconds of CPU per connection: samples / sample frequency.
Layers: OpenSSL's RSA and the rest of OpenSSL (the handshake's hashing, key exchange, name
lookups), AES-GCM, V8's optimizing compiler, its GC, the rest of V8 (runtime and builtins),
JIT-compiled JavaScript, Node's C++, libuv, glibc and the kernel, all of the network process
(the `node` threads); its total is the last row. The spawner and the programs are listed apart
and left out of the total: perf follows them from the server by inheritance and under-samples
them badly (for the spawner 11 against 90-115 us per connection from its own times in /proc,
where `perf record -p` on its pid gets 97), so take their CPU from /proc. Symbols are matched by
name, so a layer is a close estimate, not an exact account. Needs Debian's linux-perf; Python 3
standard library only.
"""
import argparse
import collections
import re
import subprocess
import sys

SETTLE_S = 0.3
# perf under-samples these (see above): shown, not added up
UNDER = "(under-sampled) "


def layer(comm, dso, kind, sym):
    if comm.startswith("sslserver-spaw"):
        return UNDER + "spawner"
    if comm != "node":
        return UNDER + "programs, others"
    if kind == "k":
        return "kernel"
    if dso.startswith("[JIT]"):
        return "JIT code"
    if dso == "node":
        if re.search(r"bn_|BN_|mulx|sqrx|rsaz|RSA|rsa_", sym):
            return "OpenSSL RSA"
        if re.search(r"aes|gcm|ghash|clmul", sym, re.I):
            return "OpenSSL AES-GCM"
        if sym.startswith(("v8::internal::compiler", "v8::internal::maglev")):
            return "V8 compiler"
        if sym.startswith("v8") and re.search(r"Scaveng|Heap|Mark|Sweep|GC|Evacuat|Compact|ArrayBuffer", sym):
            return "V8 GC"
        if sym.startswith(("v8::", "Builtins_")):
            return "V8 runtime, builtins"
        if sym.startswith("node::"):
            return "Node C++"
        if sym.startswith("uv_") or sym.startswith("uv__"):
            return "libuv"
        return "OpenSSL other"
    if dso.startswith("libc.so"):
        return "glibc"
    return "other libraries"


def perf(args):
    return subprocess.run(["perf"] + args, capture_output=True, text=True, check=True).stdout


def profile(data, conn_per_s, seconds):
    # the header has both: the sampling frequency and the time of the last sample
    header = perf(["report", "-i", data, "--header-only"])
    freq_m = re.search(r"sample_freq\s*\}?\s*=\s*(\d+)", header)
    last_m = re.search(r"time of last sample\s*:\s*([\d.]+)", header)
    if not freq_m:
        raise SystemExit(f"perf-layers: no sample frequency in {data} (recorded with -F?)")
    if not last_m:
        raise SystemExit(f"perf-layers: no samples in {data}")
    freq = int(freq_m.group(1))
    end = float(last_m.group(1)) - SETTLE_S
    window = f"{end - seconds:.6f},{end:.6f}"
    report = perf(["report", "-i", data, "--time", window, "--sort", "comm,dso,sym", "--stdio",
                   "--no-children", "-q", "-t", "|", "-F", "sample,comm,dso,sym"])
    conns = conn_per_s * seconds
    layers = collections.Counter()
    for line in report.splitlines():
        f = [x.strip() for x in line.split("|")]
        if len(f) < 4 or not f[0].isdigit():
            continue
        sym = f[3]
        kind = sym[1] if sym.startswith("[") else "?"
        layers[layer(f[1], f[2], kind, sym[4:].strip())] += int(f[0])
    return {k: n / freq / conns * 1e6 for k, n in layers.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("runs", nargs="+", metavar="NAME=PERF_DATA:CONN_PER_S")
    a = ap.parse_args()
    cols = []
    for spec in a.runs:
        name, _, rest = spec.partition("=")
        data, _, rate = rest.rpartition(":")
        if not name or not data or not rate:
            ap.error(f"not NAME=PERF_DATA:CONN_PER_S: {spec}")
        cols.append((name, profile(data, float(rate), a.seconds)))
    keys = {k for _, c in cols for k in c}
    names = sorted((k for k in keys if not k.startswith(UNDER)), key=lambda k: -cols[0][1].get(k, 0))
    print(f"{'us of CPU per connection':34}" + "".join(f"{n:>16}" for n, _ in cols))
    for k in names:
        print(f"{k:34}" + "".join(f"{c.get(k, 0):16.1f}" for _, c in cols))
    print(f"{'network process':34}" + "".join(
        f"{sum(v for k, v in c.items() if not k.startswith(UNDER)):16.1f}" for _, c in cols))
    for k in sorted(k for k in keys if k.startswith(UNDER)):
        print(f"{k:34}" + "".join(f"{c.get(k, 0):16.1f}" for _, c in cols))


if __name__ == "__main__":
    sys.exit(main())
