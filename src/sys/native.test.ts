// Tests for the addon's typed surface: loading, fds, listenTcp, setIpOptionsNone, setNoDelay, heapTopPad, error shapes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readlinkSync, readFileSync, readSync } from 'node:fs';
import net from 'node:net';
import { SysError } from '../errors';
import * as native from './native';

/** True when fd carries close-on-exec (fdinfo flags are octal; O_CLOEXEC is 02000000). */
function isCloexec(fd: number): boolean {
  const info = readFileSync(`/proc/self/fdinfo/${fd}`, 'latin1');
  return (parseInt(/^flags:\s*([0-7]+)$/m.exec(info)?.[1] ?? '0', 8) & 0o2000000) !== 0;
}

/** Serves `fd` with net.Server.listen({ fd }) and returns the first connection's peer family. */
async function acceptOne(fd: number, connect: () => net.Socket): Promise<string | undefined> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ fd }, resolve);
  });
  try {
    const accepted = new Promise<string | undefined>((resolve) =>
      server.once('connection', (s) => {
        resolve(s.remoteFamily);
        s.destroy();
      }),
    );
    const client = connect();
    client.on('error', () => undefined);
    const family = await accepted;
    client.destroy();
    return family;
  } finally {
    // server.close() closes fd
    await new Promise((r) => server.close(r));
  }
}

function isSysError(code: string, syscall: string): (err: unknown) => boolean {
  return (err) => err instanceof SysError && err.code === code && err.syscall === syscall;
}

test('the addon loads from the node-gyp Release directory, and available() says so', () => {
  assert.match(native.addonPaths()[0] as string, /\/build\/Release\/sslserver_native\.node$/);
  assert.match(native.addonPaths()[1] as string, /\/build\/Debug\/sslserver_native\.node$/);
  assert.equal(native.available(), true);
  const addon = native.loadNative();
  for (const name of ['spawn', 'onExit', 'setChildRef', 'pipe', 'socketpair', 'close', 'dup', 'chroot', 'listenTcp', 'setIpOptionsNone']) {
    assert.equal(typeof (addon as unknown as Record<string, unknown>)[name], 'function', name);
  }
});

test('an addon call with too few arguments throws ERR_MISSING_ARGS, never returns quietly', () => {
  const addon = native.loadNative() as unknown as Record<string, (...args: unknown[]) => unknown>;
  const calls: Array<[string, unknown[]]> = [
    ['pipeWatch', [0]],
    ['pipeWritev', [0]],
    ['pipeOpen', []],
    ['pipeClose', []],
    ['sendFds', [0, Buffer.alloc(1)]],
    ['setChildRef', [1]],
    ['setIpOptionsNone', []],
    ['setNoDelay', [0]],
    ['acceptOpen', []],
    ['acceptWatch', [0]],
    ['acceptClose', []],
    ['close', []],
    ['chroot', []],
    ['spawn', ['/bin/true', ['true'], [], [0, 1, 2], -1, -1, null]],
  ];
  for (const [name, args] of calls) {
    assert.throws(() => addon[name]?.(...args), (err: unknown) => (err as { code?: string }).code === 'ERR_MISSING_ARGS', name);
  }
});

test('pipe, socketpair and dup give close-on-exec fds; close releases them', () => {
  const [r, w] = native.pipe();
  const [a, b] = native.socketpair();
  const d = native.dup(w);
  try {
    for (const fd of [r, w, a, b, d]) assert.equal(isCloexec(fd), true, `fd ${fd}`);
    assert.match(readlinkSync(`/proc/self/fd/${r}`), /^pipe:/);
    assert.equal(readlinkSync(`/proc/self/fd/${d}`), readlinkSync(`/proc/self/fd/${w}`));
    assert.match(readlinkSync(`/proc/self/fd/${a}`), /^socket:/);
  } finally {
    for (const fd of [r, w, a, b, d]) native.close(fd);
  }
  assert.throws(() => native.close(r), isSysError('EBADF', 'close'));
  assert.throws(() => native.dup(r), isSysError('EBADF', 'dup'));
});

test('a socketpair carries bytes both ways', async () => {
  const [a, b] = native.socketpair();
  const sa = new net.Socket({ fd: a, readable: true, writable: true });
  const sb = new net.Socket({ fd: b, readable: true, writable: true });
  try {
    const got = new Promise<string>((resolve) => sb.once('data', (c: Buffer) => resolve(c.toString())));
    sa.write('y');
    assert.equal(await got, 'y');
  } finally {
    sa.destroy();
    sb.destroy();
  }
});

test('arguments are checked: TypeError, not a crash', () => {
  assert.throws(() => native.close(-1), TypeError);
  assert.throws(() => native.close('3' as unknown as number), TypeError);
  assert.throws(() => native.listenTcp({ address: 'localhost', port: 0 }), TypeError);
  assert.throws(() => native.listenTcp({ address: '127.0.0.1', port: 70000 }), TypeError);
  assert.throws(() => native.spawnChild({ file: 'a\0b', argv: [], env: [], fds: [] }), TypeError);
  assert.throws(() => native.spawnChild({ file: '/bin/true', argv: [], env: [], fds: [], uid: -2 }), TypeError);
  assert.throws(() => native.chroot(1 as unknown as string), TypeError);
});

test('listenTcp binds 127.0.0.1:0 and ::1:0 and reports the bound address', async () => {
  const v4 = native.listenTcp({ address: '127.0.0.1', port: 0 });
  assert.equal(v4.address, '127.0.0.1');
  assert.ok(v4.port > 0);
  assert.equal(isCloexec(v4.fd), true);
  assert.equal(await acceptOne(v4.fd, () => net.connect(v4.port, '127.0.0.1')), 'IPv4');
  const v6 = native.listenTcp({ address: '::1', port: 0, family: 6, v6only: true });
  assert.equal(v6.address, '::1');
  assert.equal(await acceptOne(v6.fd, () => net.connect(v6.port, '::1')), 'IPv6');
});

test('listenTcp on :: with v6only false accepts IPv4 clients; with v6only true it does not', async () => {
  const dual = native.listenTcp({ address: '::', port: 0, v6only: false });
  assert.equal(dual.address, '::');
  assert.equal(await acceptOne(dual.fd, () => net.connect(dual.port, '127.0.0.1')), 'IPv6');
  const only = native.listenTcp({ address: '::', port: 0, v6only: true });
  try {
    // nothing listens on IPv4 at this port now (unless something else took it: rare, and the
    // assertion then still holds since we never accept it)
    const refused = await new Promise<string>((resolve) => {
      const c = net.connect(only.port, '127.0.0.1');
      c.on('connect', () => {
        c.destroy();
        resolve('connected');
      });
      c.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
    });
    assert.equal(refused, 'ECONNREFUSED');
  } finally {
    native.close(only.fd);
  }
});

test('listenTcp on a port in use: SysError EADDRINUSE from bind', () => {
  const first = native.listenTcp({ address: '127.0.0.1', port: 0 });
  try {
    assert.throws(
      () => native.listenTcp({ address: '127.0.0.1', port: first.port }),
      (err: unknown) =>
        err instanceof SysError &&
        err.code === 'EADDRINUSE' &&
        err.syscall === 'bind' &&
        err.message === 'bind: address already in use' &&
        (err.cause as NodeJS.ErrnoException).errno === -98,
    );
    // SO_REUSEPORT on both sockets lets two listeners share the port
    const a = native.listenTcp({ address: '127.0.0.2', port: 0, reusePort: true });
    const b = native.listenTcp({ address: '127.0.0.2', port: a.port, reusePort: true });
    native.close(a.fd);
    native.close(b.fd);
  } finally {
    native.close(first.fd);
  }
});

test('listenTcp with device lo (SO_BINDTODEVICE) serves loopback; an unknown device is ENODEV', async () => {
  const lo = native.listenTcp({ address: '127.0.0.1', port: 0, device: 'lo' });
  assert.equal(await acceptOne(lo.fd, () => net.connect(lo.port, '127.0.0.1')), 'IPv4');
  assert.throws(
    () => native.listenTcp({ address: '127.0.0.1', port: 0, device: 'nosuchif0' }),
    isSysError('ENODEV', 'setsockopt'),
  );
});

test('setIpOptionsNone works on IPv4 sockets and is a no-op on IPv6 ones', () => {
  const v4 = native.listenTcp({ address: '127.0.0.1', port: 0 });
  const v6 = native.listenTcp({ address: '::1', port: 0 });
  try {
    native.setIpOptionsNone(v4.fd);
    native.setIpOptionsNone(v6.fd);
  } finally {
    native.close(v4.fd);
    native.close(v6.fd);
  }
  const [r, w] = native.pipe();
  try {
    assert.throws(() => native.setIpOptionsNone(r), isSysError('ENOTSOCK', 'getsockname'));
  } finally {
    native.close(r);
    native.close(w);
  }
});

test('setNoDelay sets TCP_NODELAY on a TCP socket (both ways) and fails on anything else', () => {
  const v4 = native.listenTcp({ address: '127.0.0.1', port: 0 });
  try {
    native.setNoDelay(v4.fd, true);
    native.setNoDelay(v4.fd, false);
  } finally {
    native.close(v4.fd);
  }
  const [r, w] = native.pipe();
  try {
    assert.throws(() => native.setNoDelay(r, true), isSysError('ENOTSOCK', 'setsockopt'));
  } finally {
    native.close(r);
    native.close(w);
  }
});

test('spawnChild reports the raw wait status and exec failures synchronously', async () => {
  const child = native.spawnChild({ file: '/bin/sh', argv: ['sh', '-c', 'kill -USR1 $$'], env: [], fds: [] });
  assert.ok(child.pid > 0);
  assert.equal(await child.exited, 10);
  assert.throws(
    () => native.spawnChild({ file: '/nonexistent', argv: ['x'], env: [], fds: [] }),
    (err: unknown) => err instanceof SysError && err.code === 'ENOENT' && err.syscall === 'execve' && err.path === '/nonexistent',
  );
});

test('spawnChild passes file, argv and env as the bytes they stand for, kept non-UTF-8 bytes included', async () => {
  const [r, w] = native.pipe();
  try {
    // X: Latin-1 "grüß" as textFromBytes keeps it; the argument: Latin-1 "café"; U: plain UTF-8
    const child = native.spawnChild({
      file: '/bin/sh',
      argv: ['sh', '-c', 'printf "%s|%s|%s" "$X" "$1" "$U"', 'sh', 'caf\udce9'],
      env: ['X=gr\udcfc\udcdf', 'U=grüß'],
      fds: [-1, w],
    });
    assert.equal(await child.exited, 0);
    const out = Buffer.alloc(64);
    const n = readSync(r, out);
    assert.equal(out.subarray(0, n).toString('hex'), Buffer.concat([Buffer.from('gr\xfc\xdf|caf\xe9|', 'latin1'), Buffer.from('grüß')]).toString('hex'));
  } finally {
    native.close(r);
    native.close(w);
  }
  assert.throws(() => native.spawnChild({ file: '/bin/true', argv: ['true'], env: ['X=a\0\udce9'], fds: [] }), TypeError, 'a NUL among bytes is refused too');
});

test('heapTopPad: glibc takes the pad; a negative or missing size is refused before mallopt', () => {
  assert.equal(native.heapTopPad(16 * 1024 * 1024), true);
  assert.throws(() => native.heapTopPad(-1), (err: unknown) => (err as NodeJS.ErrnoException).code === 'ERR_OUT_OF_RANGE');
  assert.throws(() => (native.heapTopPad as (b?: number) => boolean)(), TypeError);
  // glibc's default pad again for the rest of this test process (setting it also fixed the mmap
  // threshold, which no test here depends on)
  assert.equal(native.heapTopPad(128 * 1024), true);
});

test('heapTrim: glibc answers whether pages went back, and the heap stays usable', () => {
  const answer = native.heapTrim();
  assert.equal(typeof answer, 'boolean');
  const b = Buffer.allocUnsafeSlow(1 << 20).fill(7);
  assert.equal(b[b.length - 1], 7);
});
