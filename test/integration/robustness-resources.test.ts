// Resets at random points, a client that never reads, an fd limit of 40, renegotiation: nothing leaks, nothing grows, nothing spins.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import tls from 'node:tls';
import { FIXTURES, SSLSERVER, fdCount, programsOf, spawnerFdCount, startServer, testCerts, tlsExchange } from './harness';
import { prng } from '../fixtures/prng';

const HOLD = join(FIXTURES, 'hold.sh');
const HELLO = join(FIXTURES, 'hello.sh');

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The kernel's view of a process: resident memory (kB) and CPU time (clock ticks). */
function rssKb(pid: number): number {
  return Number(/VmRSS:\s+([0-9]+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
}
function cpuTicks(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return Number(f[11]) + Number(f[12]);
}

function fdTargets(pid: number): string[] {
  return readdirSync(`/proc/${pid}/fd`).map((f) => {
    try {
      return `${f}->${readlinkSync(`/proc/${pid}/fd/${f}`)}`;
    } catch {
      return f;
    }
  });
}

/** The server's fds, its spawner's fds (a root start), and its programs (wherever they run). */
function resources(pid: number): { fds: number; spawnerFds: number; total: number; zombies: number } {
  return { fds: fdCount(pid), spawnerFds: spawnerFdCount(pid), ...programsOf(pid) };
}

/** Waits (bounded) until the server and its spawner are back to `base` fds and no program runs. */
async function settle(pid: number, base: { fds: number; spawnerFds: number }): Promise<{ fds: number; spawnerFds: number; total: number; zombies: number }> {
  const deadline = Date.now() + 15_000;
  let now = resources(pid);
  while ((now.fds > base.fds || now.spawnerFds > base.spawnerFds || now.total > 0) && Date.now() < deadline) {
    await sleep(200);
    now = resources(pid);
  }
  return now;
}

test('300 connections reset at random points (some queued for -c): fds, children and zombies back to baseline', async (t) => {
  const s = await startServer(['-c', '5', '-H', '-R', '127.0.0.1', '0', HOLD]);
  try {
    const pid = s.proc.pid as number;
    await tlsExchange(s.port);
    await sleep(300);
    const before = resources(pid);
    t.diagnostic(`fds before: ${fdTargets(pid).join(' ')}`);
    const rnd = prng(8);
    const points = ['after connect', 'mid ClientHello', 'after ClientHello', 'after handshake', 'mid transfer'] as const;
    const tally = new Map<string, number>();
    const one = (): Promise<void> =>
      new Promise((res) => {
        const point = points[Math.floor(rnd() * points.length)] as (typeof points)[number];
        const delay = Math.floor(rnd() * 30);
        tally.set(point, (tally.get(point) ?? 0) + 1);
        const raw = net.connect({ port: s.port, host: '127.0.0.1' });
        raw.on('error', () => undefined);
        raw.on('close', () => res());
        const reset = (): void => void setTimeout(() => raw.resetAndDestroy(), delay);
        if (point === 'after connect') raw.once('connect', reset);
        else if (point === 'mid ClientHello') raw.once('connect', () => (raw.write(Buffer.from([0x16, 0x03, 0x01, 0x01, 0x00, 0x01, 0x00])), reset()));
        else {
          const c = tls.connect({ socket: raw, rejectUnauthorized: false });
          c.on('error', () => undefined);
          if (point === 'after ClientHello') setImmediate(reset);
          else if (point === 'after handshake') c.once('secureConnect', reset);
          else c.once('data', () => (c.write('x'.repeat(5000)), reset()));
        }
      });
    let started = 0;
    await Promise.all(
      Array.from({ length: 30 }, async () => {
        while (started < 300) {
          started++;
          await one();
        }
      }),
    );
    const after = await settle(pid, before);
    t.diagnostic(`reset points: ${[...tally].map(([k, v]) => `${k} ${v}`).join(', ')}`);
    t.diagnostic(`server fds/spawner fds/programs/zombies before ${before.fds}/${before.spawnerFds}/${before.total}/${before.zombies}, after ${after.fds}/${after.spawnerFds}/${after.total}/${after.zombies}`);
    if (after.fds !== before.fds) t.diagnostic(`fds now: ${fdTargets(pid).join(' ')}`);
    assert.deepEqual(after, { fds: before.fds, spawnerFds: before.spawnerFds, total: 0, zombies: 0 });
    assert.equal((await tlsExchange(s.port)).data.toString(), 'ready\nbye\n');
  } finally {
    await s.stop();
  }
});

test('resets right after the handshake, while the program is being started, leave no program and no fd behind', async (t) => {
  // a root start: the program starts through the spawner, a round trip during which the client's
  // reset may already have closed the socket; the session must still end and stop the program
  const s = await startServer(['-c', '50', '-H', '-R', '127.0.0.1', '0', HOLD]);
  try {
    const pid = s.proc.pid as number;
    await tlsExchange(s.port);
    await sleep(300);
    const before = resources(pid);
    const rnd = prng(11);
    const one = (): Promise<void> =>
      new Promise((res) => {
        const delay = Math.floor(rnd() * 4);
        const raw = net.connect({ port: s.port, host: '127.0.0.1' });
        raw.on('error', () => undefined);
        raw.on('close', () => res());
        const c = tls.connect({ socket: raw, rejectUnauthorized: false });
        c.on('error', () => undefined);
        c.once('secureConnect', () => void setTimeout(() => raw.resetAndDestroy(), delay));
      });
    for (let round = 0; round < 20; round++) await Promise.all(Array.from({ length: 10 }, one));
    const after = await settle(pid, before);
    t.diagnostic(`server fds/spawner fds/programs/zombies before ${before.fds}/${before.spawnerFds}/${before.total}/${before.zombies}, after ${after.fds}/${after.spawnerFds}/${after.total}/${after.zombies}`);
    assert.deepEqual(after, { fds: before.fds, spawnerFds: before.spawnerFds, total: 0, zombies: 0 });
  } finally {
    await s.stop();
  }
});

test('a client that never reads a 1 GiB stream cannot grow the server past a fixed bound', async (t) => {
  const s = await startServer(['-H', '-R', '127.0.0.1', '0', join(FIXTURES, 'source.sh'), '1024']);
  try {
    const pid = s.proc.pid as number;
    await sleep(200);
    const before = rssKb(pid);
    const c = tls.connect({ host: '127.0.0.1', port: s.port, rejectUnauthorized: false });
    c.on('error', () => undefined);
    c.pause();
    await new Promise((r) => c.once('secureConnect', r));
    const samples: number[] = [];
    for (let i = 0; i < 10; i++) {
      await sleep(400);
      samples.push(rssKb(pid));
    }
    const growthKb = Math.max(...samples) - before;
    t.diagnostic(`server RSS before ${before} kB; while the client does not read (4 s): ${samples.join(' ')} kB; growth ${growthKb} kB`);
    // the program is blocked on its pipe, the relay on the socket: a few buffers, not the stream
    assert.ok(growthKb < 32 * 1024, `grew ${growthKb} kB`);
    assert.ok(samples.slice(5).every((x) => x <= (samples[4] as number) + 4096), 'flat once the buffers are full');
    c.destroy();
    const end = await settle(pid, { fds: Infinity, spawnerFds: Infinity });
    assert.equal(end.total, 0, 'the program is stopped when its client is gone');
  } finally {
    await s.stop();
  }
});

test('RLIMIT_NOFILE 40: a flood of silent clients neither kills nor spins the server, and it keeps serving', async (t) => {
  const certs = testCerts();
  const proc = spawn('prlimit', ['--nofile=40:40', process.execPath, SSLSERVER, '-1', '-T', '10', '-H', '-R', '127.0.0.1', '0', HELLO], {
    env: { PATH: process.env.PATH, CERTFILE: join(certs, 'server.pem'), KEYFILE: join(certs, 'server.key'), DHFILE: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise((r) => proc.once('exit', r));
  const silent: net.Socket[] = [];
  try {
    const port = await new Promise<number>((res, rej) => {
      let out = '';
      proc.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const m = / : ([0-9]+) \[/.exec(out);
        if (m !== null) res(Number(m[1]));
      });
      proc.once('exit', () => rej(new Error(`exited: ${err}`)));
    });
    const pid = proc.pid as number;
    const hello = async (): Promise<string> => {
      try {
        return (await tlsExchange(port, '', { localAddress: '127.0.0.2' })).data.toString();
      } catch (e) {
        return `failed: ${(e as NodeJS.ErrnoException).code ?? String(e)}`;
      }
    };
    assert.equal(await hello(), 'hello from 127.0.0.2\n');
    for (let i = 0; i < 100; i++) {
      const x = net.connect({ port, host: '127.0.0.1', localAddress: `127.3.0.${i + 1}` });
      x.on('error', () => undefined);
      silent.push(x);
    }
    await sleep(500);
    const fdsFlood = fdCount(pid);
    const ticks0 = cpuTicks(pid);
    await sleep(2000);
    const ticks = cpuTicks(pid) - ticks0;
    const during: string[] = [];
    for (let i = 0; i < 5; i++) during.push(await hello());
    for (const x of silent) x.destroy();
    await sleep(300);
    const after = await hello();
    const table = /handshake limit of ([0-9]+) exceeded/.exec(err)?.[1];
    t.diagnostic(`nofile 40: server fds with 100 silent clients ${fdsFlood}; handshake table bounded to ${table ?? '?'}; CPU over 2 s idle flood ${ticks} ticks; normal clients during: ${during.map((x) => x.trim()).join(' | ')}; after: ${after.trim()}`);
    assert.ok(fdsFlood <= 40);
    assert.ok(ticks < 50, `no busy loop: ${ticks} ticks in 2 s`);
    assert.equal(proc.exitCode, null, 'still running');
    assert.ok(during.every((x) => x === 'hello from 127.0.0.2\n'), 'served during the flood');
    assert.equal(after, 'hello from 127.0.0.2\n');
  } finally {
    for (const x of silent) x.destroy();
    proc.kill('SIGTERM');
    await exited;
  }
});

test('client-initiated renegotiation is refused and ends only that connection', async (t) => {
  const s = await startServer(['-H', '-R', '127.0.0.1', '0', '/bin/cat']);
  try {
    const c = tls.connect({ host: '127.0.0.1', port: s.port, rejectUnauthorized: false, maxVersion: 'TLSv1.2' });
    await new Promise((r) => c.once('secureConnect', r));
    c.write('x\n');
    await new Promise((r) => c.once('data', r));
    const outcome = await new Promise<string>((res) => {
      c.on('error', (e: Error & { reason?: string }) => res(`client error: ${e.reason ?? e.message}`));
      c.renegotiate({}, (e) => res(e === null ? 'renegotiated' : `callback error: ${e.message}`));
    });
    await new Promise((r) => (c.destroyed ? r(undefined) : c.once('close', r)));
    await sleep(100);
    t.diagnostic(`TLS 1.2 renegotiation: ${outcome}; server: ${s.lines().join(' | ')}`);
    assert.match(outcome, /no renegotiation/);
    assert.ok(s.lines().length <= 1);
    assert.equal((await tlsExchange(s.port, 'again\n')).data.toString(), 'again\n');
  } finally {
    await s.stop();
  }
});
