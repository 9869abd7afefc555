// sslserver -n (UCSPI-TLS): y/Y, plain sessions, timeouts, a strict control protocol, plaintext
// pipelined after STARTTLS, and the example SMTP server with swaks and openssl s_client.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { decodeEnvBlock, encodeEnvBlock } from '../../src/tls/ucspi-tls';
import { FIXTURES, ROOT, startServer, testCerts, type RunningServer, assertSpawnPath, spawnPathName } from './harness';

const PROBE = join(FIXTURES, 'ucspi-tls-probe.sh');
const SMTP = join(ROOT, 'examples/smtp-starttls.js');
/** Bound on every client in this file. */
const CLIENT_TIMEOUT_MS = 15_000;
const SERVER_ARGS = ['-H', '-R', '-l', 'lname', '-n'];

let dir = '';
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'ucspi-tls-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

interface ProbeResult {
  plain: string;
  tls: string;
  tlsError?: Error;
}

/**
 * Talks to the probe: reads its plaintext line, sends `plainSend`, then (unless `noTls`) runs a
 * TLS client on the same socket, sends `tlsSend`, half-closes and reads to the end.
 */
function probeClient(port: number, opts: { host?: string; plainSend?: string; tlsSend?: string | Buffer; noTls?: boolean; silent?: boolean; idleTls?: boolean; tlsOptions?: tls.ConnectionOptions } = {}): Promise<ProbeResult> {
  return new Promise((resolve, reject) => {
    const raw = net.connect({ host: opts.host ?? '127.0.0.1', port });
    const timer = setTimeout(() => {
      raw.destroy();
      reject(new Error('client timeout'));
    }, CLIENT_TIMEOUT_MS);
    let plain = '';
    let started = false;
    raw.on('error', (err) => {
      if (!started) {
        clearTimeout(timer);
        reject(err);
      }
    });
    const onPlain = (d: Buffer): void => {
      plain += d.toString('latin1');
      if (started || !plain.includes('\r\n')) return;
      started = true;
      raw.write(opts.plainSend ?? 'go\n');
      if (opts.noTls === true || opts.silent === true) {
        raw.on('close', () => {
          clearTimeout(timer);
          resolve({ plain, tls: '' });
        });
        return;
      }
      raw.off('data', onPlain);
      const chunks: Buffer[] = [];
      const s = tls.connect({ socket: raw, servername: 'localhost', ca: readFileSync(join(testCerts(), 'ca.pem')), ...opts.tlsOptions }, () => {
        // idleTls: TLS is up, then nothing moves until the server ends the session
        if (opts.idleTls !== true) s.end(opts.tlsSend ?? 'hello\n');
      });
      s.on('data', (c: Buffer) => chunks.push(c));
      let tlsError: Error | undefined;
      s.on('error', (err) => (tlsError = err));
      s.on('close', () => {
        clearTimeout(timer);
        resolve({ plain, tls: Buffer.concat(chunks).toString('latin1'), ...(tlsError === undefined ? {} : { tlsError }) });
      });
    };
    raw.on('data', onPlain);
  });
}

/** The server's -v lines for one pid, without the start-up and status lines. */
function sessionLines(s: RunningServer, pid: string): string[] {
  // the lines that carry PID in their pid field (a start-up line may hold the same digits, e.g. `dhparam … 4096`)
  const re = new RegExp(`^sslserver: (pid ${pid} from |ok ${pid} |deny ${pid} |tls ${pid} accept|ended by ${pid} status |.* for pid: ${pid}( |$))`);
  return s.lines().filter((l) => re.test(l));
}

async function pidOf(s: RunningServer): Promise<string> {
  const line = await s.waitFor(/^sslserver: pid [0-9]+ from /);
  return (/pid ([0-9]+)/.exec(line) as RegExpExecArray)[1] as string;
}

for (const impl of ['native', 'node'] as const) {
  test(`[${spawnPathName(impl)}] y: fds 0-5, SSLCTLFD=3 SSLREADFD=4 SSLWRITEFD=5, TLS through the pipes, nothing back on the control fd`, async () => {
    const s = await startServer(['-V', ...SERVER_ARGS, '127.0.0.1', '0', PROBE], { spawnImpl: impl, env: { PROBE_CMD: 'y' } });
    try {
      assertSpawnPath(s.proc.pid as number, impl);
      const r = await probeClient(s.port);
      assert.equal(r.plain, 'plain ready FDS=0,1,2,3,4,5 CTL=3 READ=4 WRITE=5\r\n');
      assert.equal(r.tlsError, undefined);
      assert.equal(r.tls, 'tls:hello\nctl:\n');
      const pid = await pidOf(s);
      await s.waitFor(new RegExp(`^sslserver: ended by ${pid} `));
      const lines = sessionLines(s, pid);
      assert.equal(lines[0], `sslserver: pid ${pid} from 127.0.0.1`);
      assert.match(lines[1] ?? '', new RegExp(`^sslserver: ok ${pid} lname:127\\.0\\.0\\.1:${s.port} :127\\.0\\.0\\.1::[0-9]+$`));
      // with y (no variable block) -V prints no protocol:cipher, as the reference
      assert.deepEqual(lines.slice(2), [`sslserver: tls ${pid} accept`, `sslserver: ended by ${pid} status 0`]);
    } finally {
      await s.stop();
    }
  });
}

test('y, then 32 MiB from the client reach the program intact through SSLREADFD (SHA-256)', async () => {
  const s = await startServer([...SERVER_ARGS, '127.0.0.1', '0', PROBE], { env: { PROBE_CMD: 'y', PROBE_SHA: '1' } });
  try {
    const data = randomBytes(32 * 1024 * 1024);
    const r = await probeClient(s.port, { tlsSend: data });
    assert.equal(r.tlsError, undefined);
    assert.equal(r.tls, `sha:${createHash('sha256').update(data).digest('hex')}\nctl:\n`);
  } finally {
    await s.stop();
  }
});

test('Y: the block on SSLCTLFD is NAME=value\\0…\\0\\0 with the -s variables, and -V shows protocol:cipher', async () => {
  const s = await startServer(['-V', ...SERVER_ARGS, '127.0.0.1', '0', PROBE], { env: { PROBE_CMD: 'Y' } });
  try {
    const r = await probeClient(s.port);
    assert.equal(r.tlsError, undefined);
    const m = /^tls:hello\nctl:([A-Za-z0-9+/=]*)\n$/.exec(r.tls);
    assert.ok(m, r.tls);
    const block = Buffer.from(m[1] as string, 'base64');
    const decoded = decodeEnvBlock(block);
    assert.ok(decoded);
    assert.equal(decoded.length, block.length, 'nothing after the block');
    assert.deepEqual(block.subarray(-2), Buffer.from([0, 0]));
    // byte for byte what the encoder makes of those entries: NAME=value NUL ..., NUL
    assert.deepEqual(block, encodeEnvBlock(decoded.entries));
    const env = new Map(decoded.entries);
    assert.deepEqual(decoded.entries.map(([k]) => k), [
      'SSL_PROTOCOL', 'SSL_SESSION_ID', 'SSL_CIPHER', 'SSL_CIPHER_EXPORT', 'SSL_CIPHER_USEKEYSIZE', 'SSL_CIPHER_ALGKEYSIZE',
      'SSL_VERSION_INTERFACE', 'SSL_VERSION_LIBRARY', 'SSL_SERVER_M_VERSION', 'SSL_SERVER_M_SERIAL',
      'SSL_SERVER_S_DN', 'SSL_SERVER_S_DN_C', 'SSL_SERVER_S_DN_ST', 'SSL_SERVER_S_DN_O', 'SSL_SERVER_S_DN_CN',
      'SSL_SERVER_I_DN', 'SSL_SERVER_I_DN_C', 'SSL_SERVER_I_DN_O', 'SSL_SERVER_I_DN_CN',
      'SSL_SERVER_A_SIG', 'SSL_SERVER_A_KEY', 'SSL_SERVER_V_START', 'SSL_SERVER_V_END', 'SSL_SERVER_CERT',
    ]);
    assert.equal(env.get('SSL_PROTOCOL'), 'TLSv1.3');
    assert.equal(env.get('SSL_CIPHER'), 'TLS_AES_256_GCM_SHA384');
    assert.match(env.get('SSL_SESSION_ID') ?? '', /^[0-9a-f]{64}$/);
    assert.equal(env.get('SSL_SERVER_M_SERIAL'), '4660');
    assert.equal(env.get('SSL_SERVER_S_DN'), '/C=DE/ST=Berlin/O=Acceptance Server/CN=localhost');
    assert.equal(env.get('SSL_SERVER_CERT'), readFileSync(join(testCerts(), 'server.pem'), 'latin1'));
    const pid = await pidOf(s);
    await s.waitFor(new RegExp(`^sslserver: tls ${pid} accept TLSv1\\.3:TLS_AES_256_GCM_SHA384$`));
    await s.waitFor(new RegExp(`^sslserver: ended by ${pid} status 0$`));
  } finally {
    await s.stop();
  }
});

test('a program that never asks keeps a plain session, ended with its own status; -s adds nothing; -B goes out in plaintext first', async () => {
  const s = await startServer(['-v', '-s', '-B', 'banner\r\n', ...SERVER_ARGS, '127.0.0.1', '0', PROBE], { env: { PROBE_CMD: 'none', PROBE_EXIT: '3' } });
  try {
    const r = await probeClient(s.port, { noTls: true, plainSend: 'just text\n' });
    assert.equal(r.plain, 'banner\r\nplain ready FDS=0,1,2,3,4,5 CTL=3 READ=4 WRITE=5\r\nplain:just text\n');
    const pid = await pidOf(s);
    // the program's wait status (exit 3), where the reference's process exits 0 (man: DIFFERENCES)
    await s.waitFor(new RegExp(`^sslserver: ended by ${pid} status 768$`));
    // TLS never started: no `tls PID accept` (the reference logs one here; SPEC lists it as its bug)
    assert.deepEqual(sessionLines(s, pid).slice(2), [`sslserver: ended by ${pid} status 768`]);
  } finally {
    await s.stop();
  }
});

test('-B that the client does not take within -T drops it with the reference\'s line, no program, and frees the -c slot', async () => {
  // 120 KiB: more than the client's receive buffer and our send buffer hold (below)
  const banner = `${'b'.repeat(120 * 1024)}\r\n`;
  const s = await startServer(['-v', '-c', '1', '-T', '1', '-B', banner, ...SERVER_ARGS, '127.0.0.1', '0', PROBE], { env: { PROBE_CMD: 'none' } });
  try {
    // python sets a small receive buffer and segment size before connect (Node cannot; on
    // loopback's 64 KiB segments the server's send buffer alone would take the banner) and reads
    // nothing for 4 s
    const script = 'import socket,sys,time\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_RCVBUF,2048)\ns.setsockopt(socket.IPPROTO_TCP,socket.TCP_MAXSEG,536)\ns.connect(("127.0.0.1",int(sys.argv[1])))\ntime.sleep(4)\ns.close()';
    const client = new Promise<void>((resolve, reject) => execFile('python3', ['-c', script, String(s.port)], { timeout: CLIENT_TIMEOUT_MS }, (err) => (err ? reject(err) : resolve())));
    const t0 = Date.now();
    assert.equal(await s.waitFor(/dropping SSL connection/, 8000), 'sslserver: warning: dropping SSL connection, unable to print banner: connection timed out');
    const elapsed = Date.now() - t0;
    assert.ok(elapsed >= 800 && elapsed < 4000, `dropped after ${elapsed} ms (-T 1)`);
    await client;
    assert.equal(s.lines().some((l) => /^sslserver: pid /.test(l)), false, 'no program started');
    // the one -c slot is free again: a normal session runs
    const r = await probeClient(s.port, { noTls: true, plainSend: 'after\n' });
    assert.match(r.plain, /plain:after\n$/);
  } finally {
    await s.stop();
  }
});

test('-T: a client silent after y is dropped with an empty reason and the program is stopped', async () => {
  const s = await startServer(['-v', '-T', '1', ...SERVER_ARGS, '127.0.0.1', '0', PROBE], { env: { PROBE_CMD: 'y' } });
  try {
    const t0 = Date.now();
    const r = await probeClient(s.port, { silent: true });
    const elapsed = Date.now() - t0;
    assert.ok(elapsed >= 900 && elapsed < 8000, `dropped after ${elapsed} ms`);
    assert.equal(r.plain, 'plain ready FDS=0,1,2,3,4,5 CTL=3 READ=4 WRITE=5\r\n');
    const pid = await pidOf(s);
    await s.waitFor(new RegExp(`^sslserver: ended by ${pid} status 28416$`));
    assert.ok(s.lines().includes(`sslserver: fatal: (111) unable to accept TLS from: 127.0.0.1 for pid: ${pid} `));
    assert.equal(s.lines().some((l) => l.includes(`tls ${pid} accept`)), false);
  } finally {
    await s.stop();
  }
});

test('-w: a session idle after y fails with one line and ends 111 (28416), whatever the stopped program says', async () => {
  const s = await startServer(['-v', '-w', '1', ...SERVER_ARGS, '127.0.0.1', '0', PROBE], { env: { PROBE_CMD: 'y' } });
  try {
    const t0 = Date.now();
    const r = await probeClient(s.port, { idleTls: true });
    const elapsed = Date.now() - t0;
    assert.ok(elapsed >= 900 && elapsed < 8000, `closed after ${elapsed} ms`);
    assert.equal(r.tls, '');
    const pid = await pidOf(s);
    await s.waitFor(new RegExp(`^sslserver: ended by ${pid} status 28416$`));
    assert.ok(s.lines().includes(`sslserver: error: (111) unable to speak TLS with: 127.0.0.1 for pid: ${pid} `));
  } finally {
    await s.stop();
  }
});

for (const split of ['0', '1']) {
  test(`echo y >&$SSLCTLFD: the command with a shell's line end starts TLS as y does (${split === '1' ? 'line end in a later write' : 'one write'})`, async () => {
    const s = await startServer(['-v', ...SERVER_ARGS, '127.0.0.1', '0', PROBE], { env: { PROBE_CMD: 'y\n', PROBE_SPLIT: split } });
    try {
      const r = await probeClient(s.port);
      assert.equal(r.tlsError, undefined);
      assert.equal(r.tls, 'tls:hello\nctl:\n');
      const pid = await pidOf(s);
      await s.waitFor(new RegExp(`^sslserver: ended by ${pid} status 0$`));
      assert.equal(s.lines().some((l) => /bad UCSPI-TLS command/.test(l)), false);
    } finally {
      await s.stop();
    }
  });
}

test('anything but a line end after the command, in a later write, is still an error', async () => {
  const s = await startServer(['-v', ...SERVER_ARGS, '127.0.0.1', '0', PROBE], { env: { PROBE_CMD: 'yx', PROBE_SPLIT: '1' } });
  try {
    await probeClient(s.port, { silent: true });
    const pid = await pidOf(s);
    await s.waitFor(new RegExp(`^sslserver: error: \\(111\\) bad UCSPI-TLS command from pid: ${pid} 1 unexpected byte\\(s\\) after UCSPI-TLS command$`));
    await s.waitFor(new RegExp(`^sslserver: ended by ${pid} status 28416$`));
  } finally {
    await s.stop();
  }
});

for (const [cmd, reason] of [['x', 'unknown UCSPI-TLS command 0x78'], ['yy', '1 unexpected byte(s) after UCSPI-TLS command'], ['y\n\n', '2 unexpected byte(s) after UCSPI-TLS command'], ['\n', 'unknown UCSPI-TLS command 0x0a']] as const) {
  test(`strict control protocol: ${JSON.stringify(cmd)} is an error, no TLS is attempted`, async () => {
    const s = await startServer(['-v', ...SERVER_ARGS, '127.0.0.1', '0', PROBE], { env: { PROBE_CMD: cmd } });
    try {
      const r = await probeClient(s.port, { silent: true });
      assert.equal(r.tls, '');
      const pid = await pidOf(s);
      await s.waitFor(new RegExp(`^sslserver: ended by ${pid} status 28416$`));
      assert.ok(s.lines().includes(`sslserver: error: (111) bad UCSPI-TLS command from pid: ${pid} ${reason}`), s.lines().join('\n'));
      assert.equal(s.lines().some((l) => l.includes(`tls ${pid} accept`)), false);
    } finally {
      await s.stop();
    }
  });
}

test('plaintext pipelined after the command line stays plaintext: OpenSSL rejects it, the program never gets it', async () => {
  // the probe reads its line byte by byte, so `RSET\r\n` is still in the kernel when it writes y
  const s = await startServer(['-v', ...SERVER_ARGS, '127.0.0.1', '0', PROBE], { env: { PROBE_CMD: 'y' } });
  try {
    const r = await probeClient(s.port, { plainSend: 'STARTTLS\nRSET\r\n' });
    assert.ok(r.tlsError !== undefined, 'the handshake must fail');
    assert.equal(r.tls.includes('RSET'), false);
    const pid = await pidOf(s);
    await s.waitFor(new RegExp(`^sslserver: ended by ${pid} status 28416$`));
    assert.ok(s.lines().some((l) => l.startsWith(`sslserver: fatal: (111) unable to accept TLS from: 127.0.0.1 for pid: ${pid} `)));
  } finally {
    await s.stop();
  }
});

/** A line-oriented SMTP client over a socket that can be upgraded to TLS in place. */
class SmtpClient {
  private _buf = '';
  private _waiter: (() => void) | undefined;
  constructor(public socket: net.Socket | tls.TLSSocket) {
    this._attach(socket);
  }
  private _attach(s: net.Socket): void {
    s.setEncoding('latin1');
    s.on('data', (d: string) => {
      this._buf += d;
      this._waiter?.();
    });
  }
  /** The next complete reply (last line `NNN `). */
  reply(): Promise<string> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no SMTP reply; have ${JSON.stringify(this._buf)}`)), CLIENT_TIMEOUT_MS);
      const check = (): void => {
        const m = /^(?:[0-9]{3}-.*\r\n)*[0-9]{3} .*\r\n/.exec(this._buf);
        if (m === null) return;
        this._buf = this._buf.slice(m[0].length);
        this._waiter = undefined;
        clearTimeout(timer);
        resolve(m[0]);
      };
      this._waiter = check;
      check();
    });
  }
  async command(line: string): Promise<string> {
    this.socket.write(`${line}\r\n`);
    return this.reply();
  }
  async startTls(): Promise<void> {
    const raw = this.socket;
    raw.removeAllListeners('data');
    this._buf = '';
    const s = tls.connect({ socket: raw, servername: 'localhost', ca: readFileSync(join(testCerts(), 'ca.pem')) });
    await new Promise<void>((resolve, reject) => {
      s.once('secureConnect', resolve);
      s.once('error', reject);
    });
    this.socket = s;
    this._attach(s);
  }
}

test('RFC 3207 §4.2 / CVE-2011-0411: STARTTLS\\r\\nRSET\\r\\n in one plaintext packet; RSET never reaches the TLS side', async () => {
  const log = join(dir, 'pipelining.log');
  const s = await startServer(['-v', ...SERVER_ARGS, '127.0.0.1', '0', SMTP], { env: { SMTP_LOG: log, SMTP_SPOOL: join(dir, 'pipelining.mbox') } });
  try {
    const c = new SmtpClient(net.connect({ host: '127.0.0.1', port: s.port }));
    c.socket.setNoDelay(true);
    assert.match(await c.reply(), /^220 lname ESMTP/);
    assert.match(await c.command('EHLO client.test'), /250 STARTTLS\r\n$/);
    c.socket.write('STARTTLS\r\nRSET\r\n'); // one write, one segment on loopback
    assert.equal(await c.reply(), '220 2.0.0 Ready to start TLS\r\n');
    await c.startTls();
    assert.match(await c.command('EHLO client.test'), /^250-lname\r\n250 8BITMIME\r\n$/, 'no STARTTLS offered again, and no reply to a ghost RSET');
    assert.match(await c.command('QUIT'), /^221 /);
    const pid = await pidOf(s);
    await s.waitFor(new RegExp(`^sslserver: ended by ${pid} status 0$`));
    const seen = readFileSync(log, 'utf8').split('\n').filter((l) => l !== '');
    assert.deepEqual(seen.filter((l) => !l.startsWith('tls env ')), [
      'plain EHLO client.test',
      'plain STARTTLS',
      'plain discarded 6 plaintext byte(s) after STARTTLS',
      'tls EHLO client.test',
      'tls QUIT',
    ]);
  } finally {
    await s.stop();
  }
});

function run(cmd: string, args: string[], input = ''): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { timeout: CLIENT_TIMEOUT_MS, encoding: 'latin1' }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, out: stdout + stderr });
    });
    child.stdin?.end(input);
  });
}

for (const [host, bind] of [['127.0.0.1', '127.0.0.1'], ['::1', '::1']] as const) {
  test(`swaks --tls: a full mail transaction over STARTTLS through sslserver -n and the example (${host})`, async () => {
    const spool = join(dir, `swaks-${bind === '::1' ? 6 : 4}.mbox`);
    const log = join(dir, `swaks-${bind === '::1' ? 6 : 4}.log`);
    const s = await startServer(['-v', ...SERVER_ARGS, bind, '0', SMTP], { env: { SMTP_LOG: log, SMTP_SPOOL: spool } });
    try {
      const target = host === '::1' ? `[::1]:${s.port}` : `${host}:${s.port}`;
      const r = await run('swaks', ['--server', target, '--tls', '--tls-verify', '--tls-ca-path', join(testCerts(), 'ca.pem'), '--tls-sni', 'localhost',
        '--helo', 'swaks.test', '--from', 'alice@example.test', '--to', 'bob@example.test', '--body', 'over STARTTLS\n.leading dot']);
      assert.equal(r.code, 0, r.out);
      assert.match(r.out, /<- {2}220 2\.0\.0 Ready to start TLS\n=== TLS started with cipher TLSv1\.3/);
      assert.match(r.out, /~> QUIT/);
      const mail = readFileSync(spool, 'utf8');
      assert.match(mail, /^From alice@example\.test /);
      assert.match(mail, /\nDelivered-To: bob@example\.test\n/);
      assert.match(mail, new RegExp(`\\nReceived: from swaks\\.test \\(\\[${host.replace(/\./g, '\\.')}\\]\\) by lname with ESMTPS \\(TLSv1\\.3:TLS_AES_256_GCM_SHA384\\);`));
      assert.match(mail, /\nover STARTTLS\n\.leading dot\n/);
      const seen = readFileSync(log, 'utf8');
      assert.match(seen, /^plain EHLO swaks\.test\nplain STARTTLS\ntls env TLSv1\.3:TLS_AES_256_GCM_SHA384 client=- verify=-\ntls EHLO swaks\.test\ntls MAIL FROM:<alice@example\.test>\n/);
      const pid = await pidOf(s);
      await s.waitFor(new RegExp(`^sslserver: ended by ${pid} status 0$`));
      assert.ok(s.lines().includes(`sslserver: pid ${pid} from ${host}`));
    } finally {
      await s.stop();
    }
  });
}

test('openssl s_client -starttls smtp as a second client', async () => {
  const spool = join(dir, 's_client.mbox');
  const s = await startServer(['-v', ...SERVER_ARGS, '127.0.0.1', '0', SMTP], { env: { SMTP_SPOOL: spool, SMTP_LOG: join(dir, 's_client.log') } });
  try {
    const input = 'EHLO sclient.test\r\nMAIL FROM:<carol@example.test>\r\nRCPT TO:<dave@example.test>\r\nDATA\r\nSubject: s_client\r\n\r\nbody\r\n.\r\nQUIT\r\n';
    const r = await run('openssl', ['s_client', '-connect', `127.0.0.1:${s.port}`, '-starttls', 'smtp', '-servername', 'localhost',
      '-CAfile', join(testCerts(), 'ca.pem'), '-verify_return_error', '-crlf', '-ign_eof', '-quiet'], input.replace(/\r\n/g, '\n'));
    assert.match(r.out, /250 2\.0\.0 Ok: queued/);
    assert.match(r.out, /221 2\.0\.0 lname closing connection/);
    assert.match(readFileSync(spool, 'utf8'), /\nDelivered-To: dave@example\.test\n[^]*\nSubject: s_client\n\nbody\n/);
    const pid = await pidOf(s);
    await s.waitFor(new RegExp(`^sslserver: ended by ${pid} status 0$`));
  } finally {
    await s.stop();
  }
});
