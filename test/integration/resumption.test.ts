// Session resumption: every TLS 1.3 resumption brings a new ticket (native/tls.cc), so a client
// that uses each ticket once, as RFC 8446 C.4 asks and OpenSSL's client does, resumes every time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { startServer } from './harness';

interface Visit {
  reused: boolean;
  /** Tickets (Node's 'session' events) this connection received. */
  tickets: Buffer[];
  out: string;
}

/** One connection offering `session`, read to the end, with the tickets it got. */
function visit(port: number, session: Buffer | undefined, opts: tls.ConnectionOptions = {}): Promise<Visit> {
  return new Promise((res, rej) => {
    const tickets: Buffer[] = [];
    let out = '';
    let reused = false;
    const sock = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...(session === undefined ? {} : { session }), ...opts }, () => {
      reused = sock.isSessionReused();
    });
    sock.on('session', (s: Buffer) => tickets.push(s));
    sock.on('data', (d: Buffer) => (out += d.toString()));
    sock.on('error', rej);
    sock.on('close', () => res({ reused, tickets, out }));
    sock.setTimeout(10_000, () => sock.destroy(new Error('no end within 10 s')));
  });
}

test('TLS 1.3: a client that offers only its newest ticket resumes on every connection', async () => {
  const s = await startServer(['-H', '-R', '127.0.0.1', '0', 'echo', 'hi']);
  try {
    const first = await visit(s.port, undefined);
    assert.equal(first.out, 'hi\n');
    assert.equal(first.reused, false);
    assert.ok(first.tickets.length >= 1, 'a full handshake sends tickets');
    let ticket = first.tickets.at(-1);
    for (let i = 0; i < 8; i++) {
      const v = await visit(s.port, ticket);
      assert.equal(v.out, 'hi\n');
      assert.equal(v.reused, true, `connection ${i + 2} resumed`);
      // without renewal Node sends no ticket after a resumption, and the chain would stop here
      assert.equal(v.tickets.length, 1, `connection ${i + 2} got a new ticket`);
      assert.notDeepEqual(v.tickets[0], ticket);
      ticket = v.tickets[0];
    }
  } finally {
    await s.stop();
  }
});

/** openssl s_client with -sess_in/-sess_out; resolves with "New" or "Reused". */
function sClient(port: number, sessIn: string | undefined, sessOut: string): Promise<string> {
  return new Promise((res, rej) => {
    const args = ['s_client', '-connect', `127.0.0.1:${port}`, '-tls1_3', '-ign_eof', '-sess_out', sessOut, ...(sessIn === undefined ? [] : ['-sess_in', sessIn])];
    const child = execFile('openssl', args, { timeout: 10_000 }, (err, stdout) => {
      const m = /^(New|Reused), TLSv1\.3/m.exec(stdout);
      if (m === null) rej(new Error(`s_client: ${err?.message ?? ''}\n${stdout}`));
      else res(m[1] as string);
    });
    // EOF after the program's reply and the tickets: the server ends the session
    child.stdin?.end();
  });
}

test('TLS 1.3: openssl s_client, each session file written by the connection before, reuses every time', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'resume-'));
  const s = await startServer(['-H', '-R', '127.0.0.1', '0', 'sh', '-c', 'sleep 0.2; echo hi']);
  try {
    assert.equal(await sClient(s.port, undefined, join(dir, 's0')), 'New');
    for (let i = 1; i <= 4; i++) {
      assert.equal(await sClient(s.port, join(dir, `s${i - 1}`), join(dir, `s${i}`)), 'Reused', `connection ${i + 1}`);
      assert.ok(existsSync(join(dir, `s${i}`)), `connection ${i + 1} left a resumable session`);
    }
  } finally {
    await s.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('TLS 1.2: a ticket resumes again and again, with no new ticket needed (OpenSSL\'s default kept)', async () => {
  const s = await startServer(['-H', '-R', '127.0.0.1', '0', 'echo', 'hi']);
  try {
    const first = await visit(s.port, undefined, { maxVersion: 'TLSv1.2' });
    assert.equal(first.reused, false);
    const ticket = first.tickets.at(-1);
    assert.ok(ticket !== undefined);
    for (let i = 0; i < 3; i++) {
      const v = await visit(s.port, ticket, { maxVersion: 'TLSv1.2' });
      assert.equal(v.out, 'hi\n');
      assert.equal(v.reused, true);
    }
  } finally {
    await s.stop();
  }
});
