// Any bytes before, during or after the handshake close only that connection, with at most one log line, and start no program.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { tlsExchange, startServer } from './harness';

const HANDSHAKE_TIMEOUT_S = 3;

/** Deterministic pseudo-random bytes (SHA-256 in counter mode), so a failure can be replayed. */
function noise(n: number, seed: string): Buffer {
  const out: Buffer[] = [];
  for (let i = 0; out.length * 32 < n; i++) out.push(createHash('sha256').update(`${seed}:${i}`).digest());
  return Buffer.concat(out).subarray(0, n);
}

/** A real ClientHello record from node's TLS client, captured by a local listener. */
async function captureClientHello(): Promise<Buffer> {
  return new Promise((res, rej) => {
    const srv = net.createServer((sock) => {
      let got = Buffer.alloc(0);
      sock.on('data', (d: Buffer) => {
        got = Buffer.concat([got, d]);
        if (got.length >= 5 && got.length >= 5 + got.readUInt16BE(3)) {
          sock.destroy();
          srv.close();
          res(got.subarray(0, 5 + got.readUInt16BE(3)));
        }
      });
    });
    srv.listen(0, '127.0.0.1', () => {
      const c = tls.connect({ port: (srv.address() as net.AddressInfo).port, host: '127.0.0.1', rejectUnauthorized: false });
      c.on('error', () => undefined);
    });
    srv.on('error', rej);
  });
}

/** The handshake message of a record re-framed as one record per byte. */
function oneByteRecords(record: Buffer): Buffer {
  const body = record.subarray(5);
  const out: Buffer[] = [];
  for (const b of body) out.push(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x01, b]));
  return Buffer.concat(out);
}

interface Ending {
  ms: number;
  /** What the server sent back: a TLS alert, a handshake flight, or nothing. */
  reply: string;
  /** How the server closed: FIN, or RST (ECONNRESET). */
  close: string;
}

/** Sends `bytes` (then FIN when `fin`), and waits for the server to close. */
function sendRaw(port: number, bytes: Buffer, fin: boolean, finAfterReply = false): Promise<Ending> {
  return new Promise((res) => {
    const t0 = Date.now();
    const got: Buffer[] = [];
    let close = 'FIN';
    const s = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true }, () => {
      s.write(bytes);
      if (fin) s.end();
    });
    s.on('data', (d: Buffer) => {
      got.push(d);
      if (finAfterReply && !s.writableEnded) s.end();
    });
    s.on('end', () => s.end());
    s.on('error', (e: NodeJS.ErrnoException) => (close = e.code ?? 'error'));
    s.on('close', () => res({ ms: Date.now() - t0, reply: describeReply(Buffer.concat(got)), close }));
  });
}

function describeReply(b: Buffer): string {
  if (b.length === 0) return 'nothing';
  if (b[0] === 0x15 && b.length >= 7) return `alert ${b[5] === 2 ? 'fatal' : 'warning'} ${b[6]}`;
  if (b[0] === 0x16) return `handshake flight (${b.length} bytes)`;
  return `${b.length} bytes`;
}

test('garbage of every kind ends only its connection, with at most one line, and starts no program', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'garbage-'));
  const mark = join(dir, 'started');
  writeFileSync(mark, '');
  const s = await startServer(['-T', String(HANDSHAKE_TIMEOUT_S), '-H', '-R', '127.0.0.1', '0', '/bin/sh', '-c', 'echo "$SSLREMOTEPORT" >> "$MARK"; echo hi'], { env: { MARK: mark } });
  try {
    const hello = await captureClientHello();
    const sslv2 = Buffer.concat([Buffer.from([0x80, 0x2e, 0x01, 0x00, 0x02, 0x00, 0x15, 0x00, 0x00, 0x00, 0x10]), Buffer.from('0700c0050080030080010080080080060040040080020080', 'hex').subarray(0, 21), noise(16, 'challenge')]);
    const kinds: Array<{ name: string; run: () => Promise<Ending> }> = [
      { name: 'HTTP request', run: () => sendRaw(s.port, Buffer.from('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n'), false) },
      { name: 'SSLv2 ClientHello', run: () => sendRaw(s.port, sslv2, false) },
      { name: '4 KiB of random bytes', run: () => sendRaw(s.port, noise(4096, 'random'), false) },
      { name: 'truncated record, then FIN', run: () => sendRaw(s.port, Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00]), hello.subarray(5, 105)]), true) },
      { name: 'truncated record, then silence', run: () => sendRaw(s.port, Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00]), hello.subarray(5, 105)]), false) },
      { name: 'oversized record (65535 bytes)', run: () => sendRaw(s.port, Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0xff, 0xff]), noise(65535, 'big')]), false) },
      { name: 'ClientHello claiming 16 MiB', run: () => sendRaw(s.port, Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0x40, 0x00, 0x01, 0xff, 0xff, 0xff]), noise(0x4000 - 4, 'huge')]), false) },
      { name: '200 empty handshake records', run: () => sendRaw(s.port, Buffer.concat(Array.from({ length: 200 }, () => Buffer.from([0x16, 0x03, 0x01, 0x00, 0x00]))), false) },
      { name: 'alert record first', run: () => sendRaw(s.port, Buffer.from([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28]), false) },
      { name: 'ChangeCipherSpec first', run: () => sendRaw(s.port, Buffer.from([0x14, 0x03, 0x03, 0x00, 0x01, 0x01]), false) },
      { name: 'heartbeat record', run: () => sendRaw(s.port, Buffer.from([0x18, 0x03, 0x03, 0x00, 0x03, 0x01, 0x40, 0x00]), false) },
      { name: 'application data before the handshake', run: () => sendRaw(s.port, Buffer.concat([Buffer.from([0x17, 0x03, 0x03, 0x00, 0x20]), noise(32, 'app')]), false) },
      { name: 'ClientHello then random bytes', run: () => sendRaw(s.port, Buffer.concat([hello, noise(512, 'after')]), false) },
      { name: 'ClientHello in 1-byte records, FIN after the reply', run: () => sendRaw(s.port, oneByteRecords(hello), false, true) },
      { name: 'ClientHello in 1-byte records, then silence', run: () => sendRaw(s.port, oneByteRecords(hello), false) },
      { name: 'ClientHello twice', run: () => sendRaw(s.port, Buffer.concat([hello, hello]), false) },
      { name: 'FIN at once', run: () => sendRaw(s.port, Buffer.alloc(0), true) },
      { name: 'TLS 1.1 client', run: () => tlsClient(s.port, { minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' }) },
    ];
    let linesBefore = s.lines().length;
    for (const k of kinds) {
      const end = await k.run();
      // the line (if any) is written as the server closes: give it a moment, bounded
      await new Promise((r) => setTimeout(r, 100));
      const lines = s.lines().slice(linesBefore);
      linesBefore = s.lines().length;
      t.diagnostic(`${k.name}: ${end.reply}, closed by ${end.close} after ${end.ms} ms; log: ${lines.length === 0 ? '(none)' : lines.join(' | ')}`);
      assert.ok(lines.length <= 1, `${k.name}: at most one line, got ${lines.join(' | ')}`);
      assert.ok(end.ms < (HANDSHAKE_TIMEOUT_S + 2) * 1000, `${k.name}: closed by -T at the latest (${end.ms} ms)`);
    }
    assert.equal(readFileSync(mark, 'utf8'), '', 'no program was started');
    // still serving
    assert.equal((await tlsExchange(s.port)).data.toString(), 'hi\n');
    assert.notEqual(readFileSync(mark, 'utf8'), '');
  } finally {
    await s.stop();
    rmSync(dir, { recursive: true });
  }
});

test('garbage after the handshake ends that session with one line; others are not disturbed', async (t) => {
  const s = await startServer(['-T', String(HANDSHAKE_TIMEOUT_S), '-H', '-R', '127.0.0.1', '0', '/bin/cat']);
  let other: tls.TLSSocket | undefined;
  try {
    const o = tls.connect({ host: '127.0.0.1', port: s.port, rejectUnauthorized: false });
    other = o;
    o.on('error', () => undefined);
    await new Promise((r) => o.once('secureConnect', r));
    const raw = net.connect({ port: s.port, host: '127.0.0.1' });
    raw.on('error', () => undefined);
    const c = tls.connect({ socket: raw, rejectUnauthorized: false });
    c.on('error', () => undefined);
    await new Promise((r) => c.once('secureConnect', r));
    // the program runs (cat echoes) before the forged record comes
    c.write('x');
    await new Promise((r) => c.once('data', r));
    const before = s.lines().length;
    const t0 = Date.now();
    // a forged application-data record on the wire under the TLS session
    raw.write(Buffer.concat([Buffer.from([0x17, 0x03, 0x03, 0x00, 0x40]), noise(64, 'forged')]));
    await new Promise((r) => c.once('close', r));
    await new Promise((r) => setTimeout(r, 100));
    const lines = s.lines().slice(before);
    t.diagnostic(`forged record after the handshake: closed after ${Date.now() - t0} ms; log: ${lines.join(' | ')}`);
    assert.equal(lines.length, 1);
    assert.match(lines[0] as string, /^sslserver: error: \(111\) unable to speak TLS with: 127\.0\.0\.1 for pid: [0-9]+ /);
    // the other session still echoes
    o.write('still here\n');
    const echoed = await new Promise<string>((r) => o.once('data', (d: Buffer) => r(d.toString())));
    assert.equal(echoed, 'still here\n');
    o.end();
    await new Promise((r) => o.once('close', r));
  } finally {
    // SIGTERM waits for open sessions
    other?.destroy();
    await s.stop();
  }
});

/** A node TLS client with `opts`; how the server ended it. */
function tlsClient(port: number, opts: tls.ConnectionOptions): Promise<Ending> {
  return new Promise((res) => {
    const t0 = Date.now();
    let reply = 'nothing';
    let close = 'FIN';
    const c = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...opts });
    c.on('error', (e: Error & { code?: string }) => {
      reply = `client error ${e.code ?? ''} ${e.message.split('\n')[0] ?? ''}`.trim();
      close = 'alert';
    });
    c.on('secureConnect', () => (reply = `handshake done (${c.getProtocol() ?? ''})`));
    c.on('close', () => res({ ms: Date.now() - t0, reply, close }));
  });
}
