// Floods of silent and dribbling connections: normal clients keep being served, -T counts from accept.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { join } from 'node:path';
import { FIXTURES, fdCount, serverLoops, startServer, tlsExchange } from './harness';

const HELLO = join(FIXTURES, 'hello.sh');

/** A plain TCP connection from `localAddress` that says nothing (or dribbles): resolves once connected. */
function openIdle(port: number, localAddress: string): Promise<net.Socket> {
  return new Promise((res, rej) => {
    const s = net.connect({ port, host: '127.0.0.1', localAddress });
    s.on('error', () => undefined);
    s.once('connect', () => res(s));
    s.once('error', rej);
  });
}

/** The i-th address of 127.1.0.0/16: a distinct source per connection, loopback only. */
function addr(i: number): string {
  return `127.1.${Math.floor(i / 250)}.${(i % 250) + 1}`;
}

/** Latencies (ms) of `n` sequential full sessions (handshake, program output, close) from 127.0.0.2. */
async function latencies(port: number, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    const { data } = await tlsExchange(port, '', { localAddress: '127.0.0.2' });
    out.push(Number(process.hrtime.bigint() - t0) / 1e6);
    assert.equal(data.toString(), 'hello from 127.0.0.2\n');
  }
  return out;
}

function summary(ms: number[]): string {
  const s = [...ms].sort((a, b) => a - b);
  const q = (p: number): string => (s[Math.min(s.length - 1, Math.floor(p * s.length))] as number).toFixed(1);
  return `median ${q(0.5)} ms, p90 ${q(0.9)} ms, max ${q(1)} ms (n=${s.length})`;
}

function closedWithin(sock: net.Socket, ms: number): Promise<number | undefined> {
  const t0 = Date.now();
  return new Promise((res) => {
    if (sock.destroyed) return res(0);
    const t = setTimeout(() => res(undefined), ms);
    sock.once('close', () => {
      clearTimeout(t);
      res(Date.now() - t0);
    });
  });
}

test('500 silent and 50 one-byte-per-second connections do not keep a normal client out (-c 2)', async (t) => {
  // -c 2: with the reference, two silent clients would already hold every slot
  // -b 1024: the flood connects back to back faster than a cold server accepts; past the default
  // queue of 20 the kernel drops SYNs, and each waits a second for its retransmit
  const s = await startServer(['-c', '2', '-T', '20', '-b', '1024', '-H', '-R', '127.0.0.1', '0', HELLO]);
  const idle: net.Socket[] = [];
  const timers: NodeJS.Timeout[] = [];
  try {
    const pid = s.proc.pid as number;
    const before = await latencies(s.port, 20);
    const fdsBefore = fdCount(pid);
    for (let i = 0; i < 500; i++) idle.push(await openIdle(s.port, addr(i)));
    for (let i = 500; i < 550; i++) {
      const d = await openIdle(s.port, addr(i));
      // a TLS record header announcing a ClientHello, then one byte a second
      d.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00]));
      timers.push(setInterval(() => d.write(Buffer.from([0x01])), 1000));
      idle.push(d);
    }
    await new Promise((r) => setTimeout(r, 300));
    const during = await latencies(s.port, 20);
    const fdsDuring = fdCount(pid);
    // the table (MAXHANDSHAKES 256) pushed out the oldest idle connections; the rest stay open
    const evicted = s.lines().filter((l) => /^sslserver: warning: handshake limit of 256 exceeded, dropped oldest from: 127\.1\./.test(l)).length;
    const stillOpen = idle.filter((x) => !x.destroyed).length;
    for (const x of timers) clearInterval(x);
    for (const x of idle) x.destroy();
    await new Promise((r) => setTimeout(r, 500));
    const after = await latencies(s.port, 20);
    const fdsAfter = fdCount(pid);
    t.diagnostic(`normal client before: ${summary(before)}`);
    t.diagnostic(`normal client with 500 silent + 50 dribbling open: ${summary(during)}`);
    t.diagnostic(`normal client after they closed: ${summary(after)}`);
    t.diagnostic(`server fds: before ${fdsBefore}, during ${fdsDuring}, after ${fdsAfter}; idle connections pushed out of the table: ${evicted} (of 550), still open client-side: ${stillOpen}`);
    assert.ok(Math.max(...during) < 3000, 'every normal client served in well under -T');
    assert.ok(evicted >= 550 - 256 - 22 && evicted <= 550, `evicted ${evicted}`);
    assert.ok(fdsDuring <= fdsBefore + 256 + 22, `fds bounded by the table: ${fdsDuring}`);
  } finally {
    for (const x of timers) clearInterval(x);
    for (const x of idle) x.destroy();
    await s.stop();
  }
});

test('MAXHANDSHAKESIP: one address cannot fill the handshake table, and its own newest still gets through', async () => {
  const s = await startServer(['-T', '20', '-H', '-R', '127.0.0.1', '0', HELLO], { env: { MAXHANDSHAKESIP: '8' } });
  const idle: net.Socket[] = [];
  try {
    for (let i = 0; i < 30; i++) idle.push(await openIdle(s.port, '127.0.0.5'));
    await new Promise((r) => setTimeout(r, 300));
    // with several event loops the server-wide bound can be passed by one entry per other loop
    const kept = idle.filter((x) => !x.destroyed).length;
    assert.ok(kept >= 8 && kept <= 8 + serverLoops() - 1, `eight silent connections of 127.0.0.5 kept (${kept}, ${serverLoops()} loops)`);
    const line = await s.waitFor(/ip handshake limit/);
    assert.equal(line, 'sslserver: warning: ip handshake limit of 8 exceeded, dropped oldest from: 127.0.0.5');
    // another address is not affected; the busy address itself still gets a session through
    assert.equal((await tlsExchange(s.port, '', { localAddress: '127.0.0.6' })).data.toString(), 'hello from 127.0.0.6\n');
    assert.equal((await tlsExchange(s.port, '', { localAddress: '127.0.0.5' })).data.toString(), 'hello from 127.0.0.5\n');
  } finally {
    for (const x of idle) x.destroy();
    await s.stop();
  }
});

test('-T counts from accept: silent and dribbling connections are dropped at -T, with the table not full', async (t) => {
  // -b 64: a SYN dropped past the default queue of 20 would connect a second late and spoil the timing
  const s = await startServer(['-T', '2', '-b', '64', '-H', '-R', '127.0.0.1', '0', HELLO]);
  const socks: net.Socket[] = [];
  const timers: NodeJS.Timeout[] = [];
  try {
    for (let i = 0; i < 20; i++) socks.push(await openIdle(s.port, addr(i)));
    for (let i = 20; i < 30; i++) {
      const d = await openIdle(s.port, addr(i));
      d.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00]));
      timers.push(setInterval(() => d.write(Buffer.from([0x01])), 250));
      socks.push(d);
    }
    const took = await Promise.all(socks.map((x) => closedWithin(x, 8000)));
    t.diagnostic(`-T 2: closed after ${Math.min(...(took as number[]))}..${Math.max(...(took as number[]))} ms`);
    for (const ms of took) assert.ok(ms !== undefined && ms >= 1500 && ms < 5000, `closed after ${ms} ms`);
    const timeouts = (): number => s.lines().filter((l) => /^sslserver: fatal: \(111\) unable to accept TLS from: 127\.1\.0\.[0-9]+ for pid: [0-9]+ $/.test(l)).length;
    // the lines are written as the sockets close: wait for the last, bounded
    for (let i = 0; i < 40 && timeouts() < 30; i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal(timeouts(), 30, 'one line per dropped connection');
    assert.equal(s.lines().length, 30, 'and nothing else');
  } finally {
    for (const x of timers) clearInterval(x);
    for (const x of socks) x.destroy();
    await s.stop();
  }
});

test('-c 1: a connection ready while the program slot is busy waits, handshake done, and is served in order', async () => {
  const s = await startServer(['-v', '-c', '1', '-H', '-R', '127.0.0.1', '0', '/bin/sh', '-c', 'echo "$SSLREMOTEIP"; sleep 0.4']);
  try {
    const t0 = Date.now();
    const got = await Promise.all([1, 2, 3].map((i) => tlsExchange(s.port, '', { localAddress: `127.0.0.${i + 10}` }).then((r) => ({ out: r.data.toString(), ms: Date.now() - t0 }))));
    const ends = got.map((g) => g.ms).sort((a, b) => a - b);
    assert.deepEqual(got.map((g) => g.out).sort(), ['127.0.0.11\n', '127.0.0.12\n', '127.0.0.13\n']);
    // one at a time: each program runs 0.4 s
    assert.ok((ends[2] as number) >= 1100, `served one after another: ${ends.join(', ')} ms`);
    assert.equal(s.lines().filter((l) => /^sslserver: status: 2\//.test(l)).length, 0, 'never two programs');
  } finally {
    await s.stop();
  }
});
