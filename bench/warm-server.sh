# Sourced by loops.sh and sched.sh: our server as installed, started on its own and warmed, for
# scripts that drive it with ../shared/bench's tlsload directly. Not a script of its own.
#   bench_init NAME   checks for the build, builds ../shared/bench's tools (bench.py build) and
#                     sets: server_js (SERVER_JS, default the build here), build (the tools'
#                     directory), node_flags (the shebang's), work (a temporary directory named
#                     after NAME), pid (empty); on exit the server is stopped and work removed
#   start_warm CERT PORT WARM [NAME=VALUE...]
#                     starts the server with CERT's key and certificate and `benchprog http` on
#                     127.0.0.1:PORT (as root: the started process becomes the nobody network
#                     process, beside its root spawner), the NAME=VALUE pairs in its environment;
#                     waits for it to listen and warms it with WARM s of full handshakes at 16 in
#                     flight; sets pid
#   stop              stops it

bench_init() {
  local name=$1 shared=${SHARED_BENCH:-../shared/bench}
  server_js=${SERVER_JS:-$PWD/dist/src/cli/sslserver.js}
  [ -f "$server_js" ] || { echo "$name: $server_js not found (npm run build)" >&2; exit 111; }
  python3 "$shared/bench.py" build >&2
  build=${BENCH_DIR:-/tmp/ucspi-bench}/build
  node_flags=$(sed -n '1s/^#!.*env -S node//p' "$server_js")
  work=$(mktemp -d "/tmp/ucspi-ts-$name.XXXXXX")
  pid=
  trap 'stop; rm -rf "$work"' EXIT
}

start_warm() {
  local cert=$1 port=$2 warm=$3
  shift 3
  # shellcheck disable=SC2086 # node_flags is a list of flags
  env CERTFILE="$build/$cert.pem" KEYFILE="$build/$cert.key" DHFILE= "$@" \
    node $node_flags "$server_js" -H -R -l localhost -c 4000 -b 1024 127.0.0.1 "$port" \
    "$build/benchprog" http >"$work/server.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do ss -ltn "sport = :$port" | grep -q LISTEN && break; sleep 0.1; done
  "$build/tlsload" rate -H 127.0.0.1 -p "$port" -c 16 -d "$warm" >/dev/null
}

stop() {
  [ -z "$pid" ] || { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; pid=; }
}
