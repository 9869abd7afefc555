// Tests for the listener's own accept loop (native.acceptOpen) and Accepted: real loopback
// connections; Node's own net.Socket over the same fd is the oracle for the addresses.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { Accepted } from './accepted';
import { Listener, type ListenerOptions } from './listener';

const WAIT_MS = 10_000;
const openFds = (): number => readdirSync('/proc/self/fd').length;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function within<T>(p: Promise<T>, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, rej) => (t = setTimeout(() => rej(new Error(`timed out: ${what}`)), WAIT_MS)));
  return Promise.race([p, timeout]).finally(() => clearTimeout(t));
}

/** A listener whose connections queue up for the test to take in order. */
async function listen(t: TestContext, bind: ListenerOptions['bind']): Promise<{ listener: Listener; next: () => Promise<Accepted>; count: () => number }> {
  const got: Accepted[] = [];
  const waiting: Array<(c: Accepted) => void> = [];
  let count = 0;
  const listener = await Listener.open({ bind, port: 0, backlog: 64 }, (c) => {
    count++;
    t.after(() => c.destroy());
    const w = waiting.shift();
    if (w !== undefined) w(c);
    else got.push(c);
  });
  t.after(() => listener.close());
  const next = (): Promise<Accepted> => {
    const c = got.shift();
    return c !== undefined ? Promise.resolve(c) : within(new Promise<Accepted>((r) => waiting.push(r)), 'a connection');
  };
  return { listener, next, count: () => count };
}

function dial(t: TestContext, port: number, host: string, localAddress?: string): Promise<net.Socket> {
  const c = net.connect({ port, host, ...(localAddress === undefined ? {} : { localAddress }) });
  c.on('error', () => undefined);
  t.after(() => c.destroy());
  return within(new Promise((r) => c.once('connect', () => r(c))), 'connect');
}

for (const [name, bind, host, from] of [
  ['IPv4', { address: '127.0.0.1', family: 4, v6only: false }, '127.0.0.1', '127.0.0.2'],
  ['IPv6', { address: '::1', family: 6, v6only: true }, '::1', undefined],
  ['dual stack, an IPv4 client', { address: '::', family: 6, v6only: false }, '127.0.0.1', '127.0.0.3'],
] as const) {
  test(`${name}: each connection comes as a bare fd with both ends spelled as net.Socket spells them`, async (t) => {
    const { listener, next } = await listen(t, bind);
    const client = await dial(t, listener.port, host, from);
    const conn = await next();
    assert.ok(conn.bareFd !== undefined && conn.bareFd >= 0, 'a bare fd');
    // fdinfo flags are octal: O_NONBLOCK 04000, O_CLOEXEC 02000000 (no program may inherit it)
    const flags = parseInt(/^flags:\s*([0-7]+)$/m.exec(readFileSync(`/proc/self/fdinfo/${conn.bareFd}`, 'latin1'))?.[1] ?? '0', 8);
    assert.equal(flags & 0o2004000, 0o2004000, 'non-blocking and close-on-exec');
    assert.equal(conn.remotePort, client.localPort);
    assert.equal(conn.localPort, listener.port);
    // the oracle: Node's getpeername/getsockname on the same fd
    const s = conn.socket;
    assert.equal(conn.bareFd, undefined, 'the net.Socket owns the fd now');
    assert.equal(conn.remoteAddress, s.remoteAddress);
    assert.equal(conn.remotePort, s.remotePort);
    assert.equal(conn.localAddress, s.localAddress);
    assert.equal(conn.localPort, s.localPort);
    if (from !== undefined) assert.match(conn.remoteAddress, new RegExp(`${from.replace(/\./g, '\\.')}$`));
  });
}

test('the net.Socket made for a connection is paused: nothing is read until asked, then the bytes come in order', async (t) => {
  const { listener, next } = await listen(t, { address: '127.0.0.1', family: 4, v6only: false });
  const client = await dial(t, listener.port, '127.0.0.1');
  client.write('first ');
  const conn = await next();
  const s = conn.socket;
  await sleep(100);
  assert.equal(s.readableLength, 0, 'nothing read while paused');
  client.end('second');
  const chunks: Buffer[] = [];
  s.on('data', (d: Buffer) => chunks.push(d));
  s.resume();
  await within(new Promise((r) => s.once('end', r)), 'end');
  assert.equal(Buffer.concat(chunks).toString(), 'first second');
});

test('destroy() closes a bare fd at once, and the client sees the close', async (t) => {
  const { listener, next } = await listen(t, { address: '127.0.0.1', family: 4, v6only: false });
  const client = await dial(t, listener.port, '127.0.0.1');
  const conn = await next();
  const before = openFds();
  conn.destroy();
  conn.destroy();
  assert.equal(openFds(), before - 1, 'one fd fewer');
  assert.equal(conn.destroyed, true);
  assert.equal(conn.fd, -1);
  assert.equal(conn.socket.destroyed, true, 'a socket asked for afterwards says so');
  await within(new Promise((r) => client.once('close', r)), 'client close');
});

test('paused, connections wait in the kernel backlog unaccepted; resumed, each comes once, in order', async (t) => {
  const { listener, next, count } = await listen(t, { address: '127.0.0.1', family: 4, v6only: false });
  listener.pause();
  listener.pause();
  const clients: net.Socket[] = [];
  for (let i = 0; i < 5; i++) clients.push(await dial(t, listener.port, '127.0.0.1'));
  await sleep(200);
  assert.equal(count(), 0, 'none accepted while paused');
  listener.resume();
  listener.resume();
  for (const c of clients) assert.equal((await next()).remotePort, c.localPort);
  await sleep(100);
  assert.equal(count(), 5);
});

test('close() refuses new connections at once and leaves accepted ones open', async (t) => {
  const { listener, next } = await listen(t, { address: '127.0.0.1', family: 4, v6only: false });
  const client = await dial(t, listener.port, '127.0.0.1');
  const conn = await next();
  listener.close();
  listener.close();
  const refused = net.connect({ port: listener.port, host: '127.0.0.1' });
  const code = await within(new Promise<string | undefined>((r) => refused.once('error', (e: NodeJS.ErrnoException) => r(e.code))), 'refused');
  assert.equal(code, 'ECONNREFUSED');
  const s = conn.socket;
  s.resume();
  const got = within(new Promise<string>((r) => s.once('data', (d: Buffer) => r(d.toString()))), 'data');
  client.write('still here');
  assert.equal(await got, 'still here');
});

test('out of fds, accepting waits (no busy loop) and takes every waiting connection once fds are free: none is reset', async (t) => {
  // a child process under RLIMIT_NOFILE 32 that holds what it accepts until told to let go
  const script = `
    const { Listener } = require(${JSON.stringify(join(__dirname, 'listener.js'))});
    const held = [];
    let errors = 0;
    let freed = false;
    (async () => {
      const l = await Listener.open({ bind: { address: '127.0.0.1', family: 4, v6only: false }, port: 0, backlog: 64 },
        (c) => { process.stdout.write('a'); if (freed) c.destroy(); else held.push(c); },
        (code) => { errors++; if (code !== 'EMFILE') process.stdout.write('?' + code); return false; });
      process.stdout.write('port ' + l.port + '\\n');
      process.stdin.on('data', () => {
        freed = true;
        process.stdout.write('freed ' + errors + '\\n');
        for (const c of held.splice(0)) c.destroy();
      });
    })();
  `;
  const child = spawn('prlimit', ['--nofile=32:32', process.execPath, '-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const clients: net.Socket[] = [];
  try {
    const port = await within(
      (async () => {
        for (;;) {
          const m = /port ([0-9]+)\n/.exec(out);
          if (m !== null) return Number(m[1]);
          await sleep(10);
        }
      })(),
      'child listening',
    );
    const resets: string[] = [];
    for (let i = 0; i < 40; i++) {
      const c = net.connect({ port, host: '127.0.0.1' });
      c.on('error', (e: NodeJS.ErrnoException) => resets.push(e.code ?? 'error'));
      c.on('close', () => resets.push('close'));
      clients.push(c);
    }
    await sleep(1000);
    const acceptedBefore = (out.match(/a/g) ?? []).length;
    assert.ok(acceptedBefore > 0 && acceptedBefore < 40, `some accepted before the limit: ${acceptedBefore}`);
    // libuv's way (accept and close to make room) would have reset the rest by now
    assert.deepEqual(resets, [], 'no client was reset or closed while it waited');
    child.stdin.write('x');
    await within(
      (async () => {
        while ((out.match(/a/g) ?? []).length < 40) await sleep(20);
      })(),
      'every connection accepted after the fds were freed',
    );
    const errors = Number(/freed ([0-9]+)/.exec(out)?.[1]);
    t.diagnostic(`nofile 32: ${acceptedBefore} of 40 accepted before the fds were freed; ${errors} failed accepts in the 1 s of waiting`);
    // one failed accept per retry (every 100 ms) while waiting, not one per loop turn
    assert.ok(errors >= 1 && errors <= 20, `failed accepts while out of fds: ${errors}`);
    assert.doesNotMatch(out, /\?/, 'no error but EMFILE');
  } finally {
    for (const c of clients) c.destroy();
    child.kill();
  }
});
