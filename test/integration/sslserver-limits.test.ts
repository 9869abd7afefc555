// -c defers (never refuses) connections past the limit; MAXCONIP per IP, from the environment and from rules.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import tls from 'node:tls';
import { FIXTURES, TCPRULES, serverTmpDir, startServer, type RunningServer } from './harness';

const HOLD = join(FIXTURES, 'hold.sh');

/** Opens a session to hold.sh and resolves once it said "ready". */
function openSession(port: number, localAddress = '127.0.0.1'): Promise<{ sock: tls.TLSSocket; out: () => string }> {
  return new Promise((res, rej) => {
    let out = '';
    const sock = tls.connect({ host: '127.0.0.1', port, localAddress, rejectUnauthorized: false } as tls.ConnectionOptions);
    sock.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.startsWith('ready\n')) res({ sock, out: () => out });
    });
    sock.on('error', rej);
    sock.on('close', () => rej(new Error(`closed: ${out}`)));
  });
}

function closeSession(s: { sock: tls.TLSSocket }): Promise<void> {
  return new Promise((r) => {
    s.sock.removeAllListeners('close');
    s.sock.on('close', () => r());
    s.sock.on('error', () => undefined);
    s.sock.end();
  });
}

test('-c 2: a third connection waits for a program slot and is served when one frees', async () => {
  const s = await startServer(['-v', '-c', '2', '-H', '-R', '127.0.0.1', '0', HOLD]);
  try {
    const a = await openSession(s.port, '127.0.0.1');
    const b = await openSession(s.port, '127.0.0.2');
    await s.waitFor(/^sslserver: status: 2\/2\/2$/);
    let third: { sock: tls.TLSSocket } | undefined;
    const pending = openSession(s.port, '127.0.0.3').then((x) => (third = x));
    await new Promise((r) => setTimeout(r, 700));
    assert.equal(third, undefined, 'not served while two sessions are open');
    assert.equal(s.lines().filter((l) => / from 127\.0\.0\.3$/.test(l)).length, 0);
    await closeSession(a);
    await pending;
    assert.ok(third !== undefined, 'served after a slot freed');
    await closeSession(third);
    await closeSession(b);
  } finally {
    await s.stop();
  }
});

/**
 * Waits (bounded) until the server logged `n` `ended by` lines: an IP's count is released when
 * its program's exit is known (as the reference, at reaping), which can come after the client
 * saw its socket close (the spawner reports exits over its own socket).
 */
async function waitEnded(s: RunningServer, n: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (s.lines().filter((l) => /^sslserver: ended by /.test(l)).length < n) {
    if (Date.now() > deadline) throw new Error(`fewer than ${n} sessions ended: ${s.lines().join(' | ')}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('MAXCONIP: a second connection from a busy IP is closed with the warning, another IP is served', async () => {
  const s = await startServer(['-v', '-H', '-R', '127.0.0.1', '0', HOLD], { env: { MAXCONIP: '1' } });
  try {
    const a = await openSession(s.port, '127.0.0.1');
    await assert.rejects(openSession(s.port, '127.0.0.1'));
    assert.equal(await s.waitFor(/limit/), 'sslserver: warning: ip connection limit of 1 exceeded for: 127.0.0.1');
    const b = await openSession(s.port, '127.0.0.2');
    // the count is released for the IP that ended (the reference releases the last accepted IP)
    await closeSession(b);
    await waitEnded(s, 1);
    await assert.rejects(openSession(s.port, '127.0.0.1'));
    await closeSession(a);
    await waitEnded(s, 2);
    const c = await openSession(s.port, '127.0.0.1');
    await closeSession(c);
  } finally {
    await s.stop();
  }
});

test('a rule MAXCONIP denies past its limit with the reference deny line', async () => {
  const dir = serverTmpDir('rules-');
  try {
    const cdb = join(dir, 'r.cdb');
    execFileSync(process.execPath, [TCPRULES, cdb, `${cdb}.tmp`], { input: '127.0.0.0/8:allow,MAXCONIP="1"\n' });
    const s = await startServer(['-v', '-x', cdb, '-H', '-R', '127.0.0.1', '0', HOLD]);
    try {
      const a = await openSession(s.port, '127.0.0.1');
      await assert.rejects(openSession(s.port, '127.0.0.1'));
      assert.match(await s.waitFor(/ deny /), /^sslserver: deny [0-9]+ :127\.0\.0\.1:[0-9]+ :127\.0\.0\.1::[0-9]+ ip connection limit:1 exceeded$/);
      const b = await openSession(s.port, '127.0.0.2');
      await closeSession(b);
      await closeSession(a);
    } finally {
      await s.stop();
    }
  } finally {
    rmSync(dir, { recursive: true });
  }
});
