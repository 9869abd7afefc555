// Several event loops on one port (SSLSERVER_WORKERS): limits exact over all of them, tickets resume in any of them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import net from 'node:net';
import tls from 'node:tls';
import { FIXTURES, startServer } from './harness';

const HOLD = join(FIXTURES, 'hold.sh');
const LOOPS = { SSLSERVER_WORKERS: '4' };

function connect(port: number, opts: tls.ConnectionOptions = {}): Promise<tls.TLSSocket> {
  return new Promise((res, rej) => {
    const sock = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...opts }, () => res(sock));
    sock.on('error', rej);
  });
}

/** A session to hold.sh, resolved once the program said "ready". */
function hold(port: number, localAddress = '127.0.0.1'): Promise<tls.TLSSocket> {
  return new Promise((res, rej) => {
    let out = '';
    const sock = tls.connect({ host: '127.0.0.1', port, localAddress, rejectUnauthorized: false } as tls.ConnectionOptions);
    sock.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.startsWith('ready\n')) res(sock);
    });
    sock.on('error', rej);
    sock.on('close', () => rej(new Error(`closed: ${out}`)));
  });
}

function readAll(sock: tls.TLSSocket): Promise<string> {
  return new Promise((res) => {
    let out = '';
    sock.on('data', (d: Buffer) => (out += d.toString()));
    sock.on('error', () => undefined);
    sock.on('close', () => res(out));
  });
}

test('4 loops: a session ticket from one loop resumes in the others (one set of ticket keys)', async () => {
  const s = await startServer(['-H', '-R', '127.0.0.1', '0', 'echo', 'hi'], { env: LOOPS });
  try {
    const first = await connect(s.port);
    const session = await new Promise<Buffer>((res) => first.once('session', res));
    await readAll(first);
    let reused = 0;
    // a new source port each time: the kernel's SO_REUSEPORT hash spreads them over the 4 sockets,
    // so 16 connections all landing in the first one's loop is a 4^-16 chance
    for (let i = 0; i < 16; i++) {
      const c = await connect(s.port, { session });
      if (c.isSessionReused()) reused++;
      assert.equal(await readAll(c), 'hi\n');
    }
    assert.equal(reused, 16);
  } finally {
    await s.stop();
  }
});

test('4 loops: -c 1 holds over all of them; every connection is served in turn', async () => {
  const s = await startServer(['-v', '-c', '1', '-H', '-R', '127.0.0.1', '0', 'sh', '-c', 'date +%s%N; sleep 0.2; date +%s%N'], { env: LOOPS });
  try {
    // eight addresses: MAXCONIP defaults to -c (1)
    const outs = await Promise.all(Array.from({ length: 8 }, (_, i) => connect(s.port, { localAddress: `127.0.0.${i + 1}` } as tls.ConnectionOptions).then(readAll)));
    const runs = outs.map((o) => o.trim().split('\n').map((t) => BigInt(t))).sort((a, b) => (a[0] < b[0] ? -1 : 1));
    assert.equal(runs.length, 8);
    for (let i = 1; i < runs.length; i++) {
      const [prev, cur] = [runs[i - 1] as bigint[], runs[i] as bigint[]];
      assert.ok((cur[0] as bigint) >= (prev[1] as bigint), `program ${i} started before program ${i - 1} ended`);
    }
    const running = s.lines().map((l) => /^sslserver: status: (\d+)\/1\/1$/.exec(l)).filter((m) => m !== null).map((m) => Number(m[1]));
    assert.ok(running.every((n) => n <= 1), `status lines: ${running.join(' ')}`);
  } finally {
    await s.stop();
  }
});

test('4 loops: MAXCONIP 2 counts one address over all loops; other addresses are served', async () => {
  const s = await startServer(['-v', '-H', '-R', '127.0.0.1', '0', HOLD], { env: { ...LOOPS, MAXCONIP: '2' } });
  const open: tls.TLSSocket[] = [];
  try {
    open.push(await hold(s.port), await hold(s.port));
    // eight more from 127.0.0.1, spread over the loops by their source ports: all refused
    for (let i = 0; i < 8; i++) {
      const sock = net.connect({ host: '127.0.0.1', port: s.port });
      await new Promise<void>((res) => {
        sock.on('error', () => res());
        sock.on('close', () => res());
      });
    }
    const refused = s.lines().filter((l) => l === 'sslserver: warning: ip connection limit of 2 exceeded for: 127.0.0.1');
    assert.equal(refused.length, 8);
    open.push(await hold(s.port, '127.0.0.2'));
  } finally {
    for (const o of open) o.destroy();
    await s.stop();
  }
});

test('SIGTERM with sessions in several loops: the port closes at once, exit 0 after the last ends', async () => {
  const s = await startServer(['-H', '-R', '127.0.0.1', '0', HOLD], { env: LOOPS });
  const open = await Promise.all(Array.from({ length: 6 }, () => hold(s.port)));
  s.proc.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 300));
  const refused = await new Promise<boolean>((res) => {
    const c = net.connect({ host: '127.0.0.1', port: s.port });
    c.on('connect', () => {
      c.destroy();
      res(false);
    });
    c.on('error', () => res(true));
  });
  assert.equal(refused, true, 'no loop accepts after SIGTERM');
  const early = await Promise.race([s.exited.then(() => 'exited'), new Promise((r) => setTimeout(() => r('running'), 300))]);
  assert.equal(early, 'running', 'sessions still open');
  for (const o of open) o.end();
  const { code } = await s.exited;
  assert.equal(code, 0);
});

for (const bad of ['0', '65', 'two', '-1']) {
  test(`SSLSERVER_WORKERS=${bad}: exit 111 with the reason`, async () => {
    await assert.rejects(startServer(['127.0.0.1', '0', 'true'], { env: { SSLSERVER_WORKERS: bad } }), /exited 111 before -1: sslserver: fatal: \(111\) SSLSERVER_WORKERS must be a number from 1 to 64/);
  });
}
