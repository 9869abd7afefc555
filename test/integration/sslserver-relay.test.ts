// The relay: bulk integrity both ways, half-close both ways, -T, -w, SIGTERM, and no leaks after churn.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { join } from 'node:path';
import { FIXTURES, fdCount, programsOf, serverTmpDir, spawnerFdCount, spawnerOf, startServer, tlsExchange, assertSpawnPath, spawnPathName } from './harness';

const MIB = 1024 * 1024;
const BULK_MIB = 256;

test('256 MiB client -> program arrive intact (SHA-256) and the answer comes after our close_notify', async () => {
  const s = await startServer(['-H', '-R', '127.0.0.1', '0', join(FIXTURES, 'sha.sh')]);
  try {
    const block = randomBytes(MIB);
    const hash = createHash('sha256');
    const got = await new Promise<string>((res, rej) => {
      let out = '';
      const c = tls.connect({ host: '127.0.0.1', port: s.port, rejectUnauthorized: false }, () => {
        let sent = 0;
        const pump = (): void => {
          while (sent < BULK_MIB) {
            hash.update(block);
            sent++;
            if (!c.write(block)) return void c.once('drain', pump);
          }
          c.end(); // close_notify: EOF on the program's stdin
        };
        pump();
      });
      c.on('data', (d: Buffer) => (out += d.toString()));
      c.on('error', rej);
      c.on('close', () => res(out));
    });
    assert.equal(got, `${hash.digest('hex')}\n`);
  } finally {
    await s.stop();
  }
});

test('256 MiB program -> client arrive intact, then close_notify', async () => {
  const s = await startServer(['-H', '-R', '127.0.0.1', '0', join(FIXTURES, 'source.sh'), String(BULK_MIB)]);
  try {
    const hash = createHash('sha256');
    let n = 0;
    let sawEnd = false;
    await new Promise<void>((res, rej) => {
      const c = tls.connect({ host: '127.0.0.1', port: s.port, rejectUnauthorized: false, allowHalfOpen: true } as tls.ConnectionOptions);
      c.on('data', (d: Buffer) => {
        hash.update(d);
        n += d.length;
      });
      c.on('end', () => {
        sawEnd = true;
        c.end();
      });
      c.on('error', rej);
      c.on('close', () => res());
    });
    assert.equal(sawEnd, true);
    assert.equal(n, BULK_MIB * MIB);
    assert.equal(hash.digest('hex'), createHash('sha256').update(Buffer.alloc(BULK_MIB * MIB, 'x')).digest('hex'));
  } finally {
    await s.stop();
  }
});

for (const impl of ['native', 'node'] as const) {
  test(`[${spawnPathName(impl)}] 64 MiB of random program output arrive intact while the client stops reading now and then`, async () => {
    // random bytes, unlike source.sh's one repeated byte, show a read buffer reused too early; in
    // 4 KiB writes, several reads of the program's output queue behind one TLS write
    const dir = serverTmpDir('relay-random-'); // the program may run as another user
    const file = join(dir, 'random');
    const data = randomBytes(64 * MIB);
    writeFileSync(file, data);
    const s = await startServer(['-H', '-R', '127.0.0.1', '0', '/bin/dd', `if=${file}`, 'bs=4096', 'status=none'], { spawnImpl: impl });
    try {
      assertSpawnPath(s.proc.pid as number, impl);
      const hash = createHash('sha256');
      let n = 0;
      await new Promise<void>((res, rej) => {
        const c = tls.connect({ host: '127.0.0.1', port: s.port, rejectUnauthorized: false });
        let stops = 0;
        c.on('data', (d: Buffer) => {
          hash.update(d);
          const before = n;
          n += d.length;
          // every 8 MiB, 50 ms without reading: the server's writes wait, its reads of the program queue
          if (Math.floor(n / (8 * MIB)) > Math.floor(before / (8 * MIB))) {
            stops++;
            c.pause();
            setTimeout(() => c.resume(), 50);
          }
        });
        c.on('end', () => (stops > 0 ? c.end() : rej(new Error('never paused'))));
        c.on('error', rej);
        c.on('close', () => res());
      });
      assert.equal(n, data.length);
      assert.equal(hash.digest('hex'), createHash('sha256').update(data).digest('hex'));
    } finally {
      await s.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

for (const impl of ['native', 'node'] as const) {
  test(`[${spawnPathName(impl)}] half-close: the program still writes after the client closed its side, and the client still writes after the program closed stdout`, async () => {
    const s = await startServer(['-H', '-R', '127.0.0.1', '0', join(FIXTURES, 'hold.sh')], { spawnImpl: impl });
    try {
      assertSpawnPath(s.proc.pid as number, impl);
      // client ends first: hold.sh sees EOF, then its "bye" still reaches the client
      const { data } = await tlsExchange(s.port);
      assert.equal(data.toString(), 'ready\nbye\n');
    } finally {
      await s.stop();
    }
    // program ends first (hello.sh exits at once): the client gets close_notify, its own late
    // write does not disturb the server
    const s2 = await startServer(['-v', '-H', '-R', '127.0.0.1', '0', join(FIXTURES, 'hello.sh'), '3'], { spawnImpl: impl });
    try {
      assertSpawnPath(s2.proc.pid as number, impl);
      const got = await new Promise<string>((res, rej) => {
        let out = '';
        const c = tls.connect({ host: '127.0.0.1', port: s2.port, rejectUnauthorized: false, allowHalfOpen: true } as tls.ConnectionOptions);
        c.on('data', (d: Buffer) => (out += d.toString()));
        c.on('end', () => {
          c.write('late\n');
          c.end();
        });
        c.on('error', rej);
        c.on('close', () => res(out));
      });
      assert.equal(got, 'hello from 127.0.0.1\n');
      assert.match(await s2.waitFor(/ended by/), /^sslserver: ended by [0-9]+ status 768$/);
    } finally {
      await s2.stop();
    }
  });
}

test('-T drops a silent client and a dribbling one at the deadline, bytes do not extend it', async () => {
  const s = await startServer(['-T', '1', '-H', '-R', '127.0.0.1', '0', join(FIXTURES, 'hello.sh')]);
  try {
    const t0 = Date.now();
    const silent = net.connect(s.port, '127.0.0.1');
    const dribble = net.connect(s.port, '127.0.0.1');
    // a TLS record header, then one byte every 200 ms
    dribble.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00]));
    const iv = setInterval(() => dribble.write(Buffer.from([0x01])), 200);
    const closed = (sock: net.Socket): Promise<number> => new Promise((r) => sock.on('close', () => r(Date.now() - t0)));
    sock_noerr(silent);
    sock_noerr(dribble);
    const [a, b] = await Promise.all([closed(silent), closed(dribble)]);
    clearInterval(iv);
    assert.ok(a >= 900 && a < 5000, `silent client closed after ${a} ms`);
    assert.ok(b >= 900 && b < 5000, `dribbling client closed after ${b} ms`);
    const line = await s.waitFor(/unable to accept TLS/);
    assert.match(line, /^sslserver: fatal: \(111\) unable to accept TLS from: 127\.0\.0\.1 for pid: [0-9]+ $/);
  } finally {
    await s.stop();
  }
});

function sock_noerr(s: net.Socket): void {
  s.on('error', () => undefined);
}

for (const impl of ['native', 'node'] as const) {
  test(`[${spawnPathName(impl)}] -w ends a session where nothing moves, and the program is stopped`, async () => {
    const s = await startServer(['-v', '-w', '1', '-H', '-R', '127.0.0.1', '0', '/bin/sleep', '30'], { spawnImpl: impl });
    try {
      assertSpawnPath(s.proc.pid as number, impl);
      const t0 = Date.now();
      await new Promise<void>((res) => {
        const c = tls.connect({ host: '127.0.0.1', port: s.port, rejectUnauthorized: false });
        c.on('error', () => undefined);
        c.on('close', () => res());
      });
      const took = Date.now() - t0;
      assert.ok(took >= 900 && took < 5000, `closed after ${took} ms`);
      assert.match(await s.waitFor(/unable to speak TLS/), /^sslserver: error: \(111\) unable to speak TLS with: 127\.0\.0\.1 for pid: [0-9]+ $/);
      // the session failed (111, as the reference's TLS process), whatever the stopped program's status
      assert.match(await s.waitFor(/ended by/), /^sslserver: ended by [0-9]+ status 28416$/);
    } finally {
      await s.stop();
    }
  });
}

test('SIGTERM with no session open: the server exits 0 at once', async () => {
  const s = await startServer(['-H', '-R', '127.0.0.1', '0', join(FIXTURES, 'hello.sh')]);
  const t0 = Date.now();
  assert.equal(await s.stop(), 0);
  assert.ok(Date.now() - t0 < 2000);
});

test('SIGTERM with a session open: the port refuses at once, the session runs to its end, then exit 0', async () => {
  const s = await startServer(['-H', '-R', '127.0.0.1', '0', join(FIXTURES, 'hold.sh')]);
  const c = tls.connect({ host: '127.0.0.1', port: s.port, rejectUnauthorized: false, allowHalfOpen: true } as tls.ConnectionOptions);
  let out = '';
  c.on('data', (d: Buffer) => (out += d.toString()));
  await new Promise<void>((r) => c.once('data', () => r()));
  s.proc.kill('SIGTERM');
  // the listener is closed: a new connection is refused
  await new Promise((r) => setTimeout(r, 300));
  const refused = await new Promise<string>((r) => {
    const p = net.connect(s.port, '127.0.0.1');
    p.on('connect', () => (p.destroy(), r('connected')));
    p.on('error', (e: NodeJS.ErrnoException) => r(e.code ?? 'error'));
  });
  assert.equal(refused, 'ECONNREFUSED');
  assert.equal(s.proc.exitCode, null, 'still serving the open session');
  c.end();
  await new Promise<void>((r) => c.on('close', () => r()));
  assert.equal(out, 'ready\nbye\n');
  assert.equal((await s.exited).code, 0);
});

test('after 2000 connections with resets mid-handshake and mid-transfer, fds and children are back to baseline', async () => {
  const s = await startServer(['-c', '100', '-H', '-R', '127.0.0.1', '0', join(FIXTURES, 'hold.sh')]);
  try {
    const pid = s.proc.pid as number;
    // one full session first so that lazily opened fds (addon, TLS) exist in the baseline
    await tlsExchange(s.port);
    await new Promise((r) => setTimeout(r, 300));
    const baseFds = fdCount(pid);
    // a root start: programs are the spawner's children, and what it was handed must be closed too
    assert.ok(spawnerOf(pid) !== undefined, 'a root start has a spawner');
    const baseSpawnerFds = spawnerFdCount(pid);
    const one = (i: number): Promise<void> =>
      new Promise((res) => {
        const kind = i % 4;
        if (kind === 0) {
          // reset during the handshake
          const c = net.connect(s.port, '127.0.0.1', () => {
            c.write(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x50, 0x01]));
            setTimeout(() => c.resetAndDestroy(), 5);
          });
          c.on('error', () => undefined);
          c.on('close', () => res());
        } else if (kind === 1) {
          // reset mid-transfer, after the program said ready
          const raw = net.connect(s.port, '127.0.0.1');
          raw.on('error', () => undefined);
          const c = tls.connect({ socket: raw, rejectUnauthorized: false });
          c.on('data', () => {
            c.write('x'.repeat(1000));
            raw.resetAndDestroy();
          });
          c.on('error', () => undefined);
          c.on('close', () => res());
        } else if (kind === 2) {
          // plain close without any byte
          const c = net.connect(s.port, '127.0.0.1', () => c.end());
          c.on('error', () => undefined);
          c.on('close', () => res());
        } else {
          tlsExchange(s.port, 'q').then(() => res(), () => res());
        }
      });
    const N = 2000;
    let next = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < N) await one(next++);
      }),
    );
    // the server reaps and closes asynchronously: give it a bounded moment
    const deadline = Date.now() + 15_000;
    let now = { fds: fdCount(pid), spawnerFds: spawnerFdCount(pid), ...programsOf(pid) };
    while ((now.fds > baseFds || now.spawnerFds > baseSpawnerFds || now.total > 0) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      now = { fds: fdCount(pid), spawnerFds: spawnerFdCount(pid), ...programsOf(pid) };
    }
    assert.deepEqual(now, { fds: baseFds, spawnerFds: baseSpawnerFds, total: 0, zombies: 0 });
    // and it still serves
    assert.equal((await tlsExchange(s.port)).data.toString(), 'ready\nbye\n');
  } finally {
    await s.stop();
  }
});
