// What reading a TLS upload costs a Node server, by how the decrypted records are taken: one
// 1 GiB upload from a Node TLS client over loopback, nothing done with the bytes, the server's
// CPU per GB. The design note on src/tls/server-socket.ts cites it.
//   node dist/bench/tls-read-cost.js MODE [BYTES]    (run as root or any user; needs `npm run build`)
// TypeScript so that the build checks it against the modules it uses (as JavaScript it broke
// unnoticed when serverTlsOver came to take an Accepted).
// MODE:
//   wrapped       new TLSSocket(acceptedSocket), 'data' events: a new Buffer per record
//   onread        serverTlsOver (src/tls/server-socket.ts): `onread` into one reused buffer
//   stage         onread, each record copied into one stage of INPUT_STAGE_BYTES reused every
//                 turn, and into a Buffer of its own once the turn has filled it (our relay's
//                 InputStage in src/spawn/program-io.ts; but nothing pauses the socket here, so a
//                 turn can read past the stage, where the relay's pause at its high-water mark
//                 keeps an upload's turns inside it)
//   fresh-turn    onread, each record copied into a 64 KiB Buffer allocated every turn (and
//                 whenever the turn has filled one)
//   fresh-record  onread, each record copied into a Buffer of its own
// Prints one JSON line: mode, bytes, MB/s, server CPU s per GB.
import * as net from 'node:net';
import * as tls from 'node:tls';
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Accepted } from '../src/listen/accepted';
import { INPUT_STAGE_BYTES } from '../src/spawn/program-io';
import { serverTlsOver } from '../src/tls/server-socket';

const MODES = ['wrapped', 'onread', 'stage', 'fresh-turn', 'fresh-record'];

/** The client: writes `bytes` in 64 KiB writes to the port, then ends. */
function client(bytes: number, port: number): void {
  let left = bytes;
  const chunk = Buffer.alloc(65536, 0x78);
  const s = tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false }, () => {
    const pump = (): void => {
      while (left > 0) {
        left -= chunk.length;
        if (!s.write(chunk)) return void s.once('drain', pump);
      }
      s.end();
    };
    pump();
  });
  s.on('data', () => {});
  s.on('error', (e) => {
    process.stderr.write(`client: ${e.message}\n`);
    process.exit(1);
  });
}

/** The server: takes one upload the way `mode` says, then prints its cost and exits. */
function server(mode: string, bytes: number): void {
  // the tests' PKI (scripts/gen-test-certs.sh, made once and kept): its RSA-2048 server certificate
  const dir = join(tmpdir(), 'ucspi-ssl-ts-bench-certs');
  execFileSync('sh', [join(__dirname, '../../scripts/gen-test-certs.sh'), dir], { stdio: ['ignore', 'ignore', 'inherit'] });
  const secureContext = tls.createSecureContext({ cert: readFileSync(join(dir, 'server.pem')), key: readFileSync(join(dir, 'server.key')) });

  let total = 0;
  let turnQueued = false;
  let kept: Buffer[] = [];
  let stage: Buffer | undefined;
  let used = 0;
  const endOfTurn = (): void => {
    turnQueued = false;
    kept = [];
    used = 0;
    if (mode === 'fresh-turn') stage = undefined;
  };
  const keep = (b: Buffer): void => {
    if (mode === 'fresh-record') kept.push(Buffer.from(b));
    else if (mode === 'stage') {
      stage ??= Buffer.allocUnsafe(INPUT_STAGE_BYTES);
      if (used + b.length > stage.length) kept.push(Buffer.from(b));
      else {
        b.copy(stage, used);
        used += b.length;
      }
    } else {
      if (stage === undefined || used + b.length > stage.length) (stage = Buffer.allocUnsafe(65536)), (used = 0);
      b.copy(stage, used);
      used += b.length;
    }
    if (!turnQueued) (turnQueued = true), setImmediate(endOfTurn);
  };

  const srv = net.createServer({ pauseOnConnect: true, allowHalfOpen: true }, (raw) => {
    const t0 = process.cpuUsage();
    const w0 = process.hrtime.bigint();
    let socket: tls.TLSSocket;
    if (mode === 'wrapped') {
      socket = new tls.TLSSocket(raw, { isServer: true, secureContext });
      socket.on('data', (b: Buffer) => (total += b.length));
    } else {
      const conn = Accepted.fromSocket(raw);
      const own = conn && serverTlsOver(conn, { secureContext, requestCert: false });
      if (own === undefined) throw new Error('serverTlsOver: no addon or no fd');
      socket = own.socket;
      own.read(mode === 'onread' ? (b) => void (total += b.length) : (b) => void ((total += b.length), keep(b)));
    }
    socket.on('end', () => {
      const cpu = process.cpuUsage(t0);
      const s = Number(process.hrtime.bigint() - w0) / 1e9;
      const perGB = (cpu.user + cpu.system) / 1e6 / (total / 1e9);
      process.stdout.write(`${JSON.stringify({ mode, bytes: total, MB_per_s: +(total / 1e6 / s).toFixed(1), cpu_s_per_GB: +perGB.toFixed(3) })}\n`);
      socket.destroy();
      srv.close();
    });
  });
  srv.listen(0, '127.0.0.1', () => {
    const port = (srv.address() as net.AddressInfo).port;
    spawn(process.execPath, [__filename, 'client', String(bytes), String(port)], { stdio: 'inherit' });
  });
}

const mode = process.argv[2] ?? '';
const bytes = Number(process.argv[3] ?? 1 << 30);
if (mode === 'client') client(bytes, Number(process.argv[4]));
else if (MODES.includes(mode)) server(mode, bytes);
else {
  process.stderr.write(`usage: tls-read-cost.js ${MODES.join('|')} [BYTES]\n`);
  process.exit(100);
}
