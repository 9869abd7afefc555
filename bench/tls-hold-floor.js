#!/usr/bin/env node
// Node's own memory floor for idle TLS sessions: a bare tls.createServer that answers each
// handshake with one byte (as `benchprog hold` does) and then holds the connection; no program,
// no pipes, no relay. For bench.py idlemem (README, Performance):
//   python3 ../shared/bench/bench.py idlemem --server "floor=node $PWD/bench/tls-hold-floor.js {host} {port}"
'use strict';
const tls = require('node:tls');
const fs = require('node:fs');

const [host, port] = process.argv.slice(2);
const server = tls.createServer({
  key: fs.readFileSync(process.env.KEYFILE || process.env.CERTFILE),
  cert: fs.readFileSync(process.env.CERTFILE),
}, (sock) => {
  sock.on('error', () => {});
  sock.write('R');
});
server.on('tlsClientError', () => {});
server.listen({ host, port: Number(port), backlog: 1024 });
process.on('SIGTERM', () => process.exit(0));
