// Root start, key helper in SSL_CHROOT as SSL_USER, network process without root, programs as -u/-g/-U (runs as root, as CI).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import tls from 'node:tls';
import { join } from 'node:path';
import { FIXTURES, NOBODY as NOBODY_ID, SSLSERVER, TCPRULES, runServer, serverTmpDir, spawnerOf, startServer, testCerts, tlsExchange, type RunningServer } from './harness';

const NOBODY = 65534;
const PROBE = join(FIXTURES, 'priv-probe.sh');
/** The spawner's permitted and effective sets: CAP_KILL (5), CAP_SETGID (6) and CAP_SETUID (7) only. */
const SPAWNER_CAPS = '00000000000000e0';
const NO_CAPS = '0000000000000000';
/** A program that prints its own identity and capabilities (/proc/self is grep itself, same creds). */
const SELF_STATUS = ['sh', '-c', 'grep -E "^(Uid|Gid|Groups|CapPrm|CapEff|CapBnd):" /proc/self/status'];

/** Uid, Gid, Groups and capability lines of /proc/PID/status. */
function status(pid: number): Map<string, string> {
  return statusLines(readFileSync(`/proc/${pid}/status`, 'utf8'));
}

/** `Name:\tvalue` lines as a map, runs of white space made one space. */
function statusLines(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of text.split('\n')) {
    const i = line.indexOf(':');
    if (i > 0) m.set(line.slice(0, i), line.slice(i + 1).trim().replace(/\s+/g, ' '));
  }
  return m;
}

/** Direct children of pid whose command line contains `needle`. */
function childWith(pid: number, needle: string): number {
  for (const e of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) !== pid) continue;
      if (readFileSync(`/proc/${e}/cmdline`, 'utf8').includes(needle)) return Number(e);
    } catch {
      // gone
    }
  }
  throw new Error(`no child of ${pid} runs ${needle}`);
}

/** The scheduling policy of a process (/proc/PID/stat field 41: 0 SCHED_OTHER, 3 SCHED_BATCH). */
function schedPolicy(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[38]);
}

/** A grandchild of `pid` through any of its `via` children (a program under one of the spawners, one per event loop). */
function grandchildWith(pid: number, via: string, needle: string): number {
  for (const e of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) !== pid) continue;
      if (!readFileSync(`/proc/${e}/cmdline`, 'utf8').includes(via)) continue;
      return childWith(Number(e), needle);
    } catch {
      // gone, or not under this one
    }
  }
  throw new Error(`no grandchild of ${pid} runs ${needle}`);
}

function probeLines(out: Buffer): Map<string, string> {
  const m = new Map<string, string>();
  for (const l of out.toString().split('\n')) {
    const i = l.indexOf('=');
    if (i > 0) m.set(l.slice(0, i), l.slice(i + 1).trim());
  }
  return m;
}

describe('privileges (root start)', () => {
  let dir: string;
  let root: string;
  before(() => {
    assert.equal(process.getuid?.(), 0, 'these tests run as root (as CI does)');
    const certs = testCerts();
    dir = mkdtempSync(join(tmpdir(), 'priv-'));
    chmodSync(dir, 0o755);
    root = join(dir, 'root');
    mkdirSync(root, { mode: 0o755 });
    copyFileSync(join(certs, 'server.pem'), join(root, 'cert.pem'));
    copyFileSync(join(certs, 'ec-server.pem'), join(root, 'cert2.pem'));
    for (const [src, dst] of [['server.key', 'key.pem'], ['ec-server.key', 'key2.pem']] as const) {
      copyFileSync(join(certs, src), join(root, dst));
      // readable only by SSL_USER
      chownSync(join(root, dst), NOBODY, NOBODY);
      chmodSync(join(root, dst), 0o400);
    }
    chmodSync(join(root, 'cert.pem'), 0o644);
    chmodSync(join(root, 'cert2.pem'), 0o644);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const sslEnv = (): Record<string, string> => ({
    SSL_USER: 'nobody',
    SSL_CHROOT: root,
    CERTFILE: '/cert.pem',
    KEYFILE: '/key.pem',
    PROBE_DIR: dir,
    PROBE_KEY: join(root, 'key.pem'),
  });

  it('drops the network process, confines the key helper, runs the program as -u/-g with fds 0-2 only', async () => {
    // the program waits for a line first, so that its fds can be looked at while it runs
    const srv = await startServer(['-v', '-u', '1', '-g', '1', '127.0.0.1', '0', 'sh', '-c', `read x; exec ${PROBE}`], { env: sslEnv() });
    try {
      const pid = srv.proc.pid as number;
      const net = status(pid);
      assert.equal(net.get('Uid'), '65534 65534 65534 65534');
      assert.equal(net.get('Gid'), '65534 65534 65534 65534');
      assert.equal(net.get('Groups'), '');
      assert.equal(net.get('CapEff'), '0000000000000000');
      assert.equal(net.get('CapPrm'), '0000000000000000');
      assert.equal(net.get('CapBnd'), '0000000000000000');
      const helper = childWith(pid, 'key-helper.js');
      assert.equal(readlinkSync(`/proc/${helper}/root`), root);
      assert.equal(status(helper).get('Uid'), '65534 65534 65534 65534');
      assert.equal(status(helper).get('CapEff'), '0000000000000000');
      const spawner = childWith(pid, 'sslserver-spawner');
      assert.equal(status(spawner).get('Uid'), '0 0 0 0');
      assert.equal(status(spawner).get('CapPrm'), SPAWNER_CAPS);
      assert.equal(status(spawner).get('CapEff'), SPAWNER_CAPS);
      writeFileSync(join(dir, 'pids'), `${pid} ${helper}\n`, { mode: 0o644 });

      // the key at /key.pem exists only inside SSL_CHROOT and only nobody may read it: TLS works
      const chunks: Buffer[] = [];
      const client = tls.connect({ host: '127.0.0.1', port: srv.port, rejectUnauthorized: false });
      client.on('data', (d: Buffer) => chunks.push(d));
      const closed = new Promise((r) => client.on('close', r));
      await new Promise((r) => client.once('secureConnect', r));
      assert.equal(client.getPeerX509Certificate()?.subject.includes('CN=localhost'), true);
      let prog: number | undefined;
      for (let i = 0; i < 100 && prog === undefined; i++) {
        try {
          prog = grandchildWith(pid, 'sslserver-spawner', 'read x');
        } catch {
          await new Promise((r) => setTimeout(r, 20));
        }
      }
      assert.ok(prog !== undefined);
      const fds = readdirSync(`/proc/${prog}/fd`).map(Number).sort((a, b) => a - b);
      // the spawner runs SCHED_BATCH (3), so that its wake-ups do not preempt the event loop;
      // the program is back to SCHED_OTHER (0)
      assert.equal(schedPolicy(spawner), 3);
      assert.equal(schedPolicy(prog), 0);
      client.end('go\n');
      await closed;
      assert.deepEqual(fds, [0, 1, 2]);
      const out = probeLines(Buffer.concat(chunks));
      assert.equal(out.get('uid'), '1 gid=1 groups=1');
      assert.equal(out.get('key'), 'denied');
      assert.equal(out.get(`mem-${pid}`), 'denied');
      assert.equal(out.get(`mem-${helper}`), 'denied');
      if (out.has(`ptrace-${pid}`)) {
        assert.equal(out.get(`ptrace-${pid}`), 'denied');
        assert.equal(out.get(`ptrace-${helper}`), 'denied');
      }
      await srv.waitFor(/ended by [0-9]+ status 0/);
    } finally {
      await srv.stop();
    }
  });

  it('-U: the program runs as $UID/$GID with only that group', async () => {
    const srv = await startServer(['-U', '127.0.0.1', '0', PROBE], { env: { ...sslEnv(), UID: '2', GID: '2' } });
    try {
      const out = probeLines((await tlsExchange(srv.port)).data);
      assert.equal(out.get('uid'), '2 gid=2 groups=2');
      assert.equal(out.get('key'), 'denied');
    } finally {
      await srv.stop();
    }
  });

  it('binds a privileged port as root, then drops', async () => {
    let srv: RunningServer | undefined;
    for (const port of [443, 636, 853, 990, 992, 993, 995, 465]) {
      try {
        srv = await startServer(['127.0.0.1', String(port), PROBE], { env: { ...sslEnv(), SSL_USER: '', SSL_UID: String(NOBODY), SSL_GID: String(NOBODY) } });
        break;
      } catch {
        // that port is taken here: try the next
      }
    }
    assert.ok(srv !== undefined, 'no privileged port free');
    try {
      assert.ok(srv.port < 1024);
      assert.equal(status(srv.proc.pid as number).get('Uid'), '65534 65534 65534 65534');
      assert.equal(status(srv.proc.pid as number).get('CapEff'), '0000000000000000');
      // no -u: the program runs as started (root), as the reference; through the spawner
      const out = probeLines((await tlsExchange(srv.port)).data);
      assert.match(out.get('uid') ?? '', /^0 gid=0 /);
    } finally {
      await srv.stop();
    }
  });

  it('a rule selects other key files, served by the helper; a dead helper drops that connection with one line', async () => {
    const cdb = join(dir, 'rules.cdb');
    execFileSync(process.execPath, [TCPRULES, cdb, `${cdb}.tmp`], { input: '127.0.0.2:allow,CERTFILE="/cert2.pem",KEYFILE="/key2.pem"\n:allow\n' });
    chmodSync(cdb, 0o644);
    const srv = await startServer(['-v', '-x', cdb, '-u', '1', '-g', '1', '127.0.0.1', '0', PROBE], { env: sslEnv() });
    try {
      const ec = await tlsExchange(srv.port, '', { localAddress: '127.0.0.2' });
      assert.equal(ec.peer?.publicKey.asymmetricKeyType, 'ec');
      const helper = childWith(srv.proc.pid as number, 'key-helper.js');
      process.kill(helper, 'SIGKILL');
      await new Promise((r) => setTimeout(r, 200));
      // the base set-up is loaded: it still serves
      assert.equal(probeLines((await tlsExchange(srv.port)).data).get('uid'), '1 gid=1 groups=1');
      // a rule's set-up not loaded yet: gone with the helper
      execFileSync(process.execPath, [TCPRULES, cdb, `${cdb}.tmp`], { input: '127.0.0.2:allow,CERTFILE="/cert.pem",KEYFILE="/key2.pem"\n:allow\n' });
      chmodSync(cdb, 0o644);
      const before = srv.lines().length;
      await assert.rejects(tlsExchange(srv.port, '', { localAddress: '127.0.0.2' }));
      const line = await srv.waitFor(/key helper is gone/);
      assert.match(line, /^sslserver: error: \(111\) key helper is gone$/);
      assert.equal(srv.lines().slice(before).filter((l) => /key helper/.test(l)).length, 1);
    } finally {
      await srv.stop();
    }
  });

  it('-n with an SSL identity: the spawner starts the STARTTLS program as -u/-g and swaks completes a mail', async () => {
    const spool = join(dir, 'spool');
    mkdirSync(spool, { mode: 0o777 });
    chmodSync(spool, 0o777);
    const s = await startServer(['-v', '-n', '-H', '-R', '-u', '1', '-g', '1', '127.0.0.1', '0', join(FIXTURES, '../../examples/smtp-starttls.js')], {
      env: { ...sslEnv(), SMTP_SPOOL: join(spool, 'mail.mbox') },
    });
    try {
      const out = execFileSync('swaks', ['--server', `127.0.0.1:${s.port}`, '--tls', '--to', 'a@example.test', '--from', 'b@example.test'], { timeout: 20_000 }).toString();
      assert.match(out, /TLS started with cipher TLSv1\.3/);
      assert.match(out, /250 2\.0\.0 Ok: queued/);
      assert.match(await s.waitFor(/ended by/), /^sslserver: ended by [0-9]+ status 0$/);
      const mbox = readFileSync(join(spool, 'mail.mbox'), 'utf8');
      assert.match(mbox, /with ESMTPS \(TLSv1\.3:/);
      // written by the program, as -u 1 -g 1
      assert.equal(execFileSync('stat', ['-c', '%u:%g', join(spool, 'mail.mbox')]).toString().trim(), '1:1');
    } finally {
      await s.stop();
    }
  });

  it('start-up errors: SSL_CHROOT that cannot be entered, SSL_CHROOT without an identity', async () => {
    const certs = testCerts();
    const base = { CERTFILE: join(certs, 'server.pem'), KEYFILE: join(certs, 'server.key'), DHFILE: '' };
    let r = await runServer(['127.0.0.1', '0', 'true'], { ...base, SSL_USER: 'nobody', SSL_CHROOT: join(dir, 'nonexistent') });
    assert.equal(r.code, 111);
    assert.match(r.stderr, /^sslserver: fatal: \(111\) unable to start the key helper: unable to chroot to: .*nonexistent$/m);
    r = await runServer(['127.0.0.1', '0', 'true'], { ...base, SSL_CHROOT: root });
    assert.equal(r.code, 111);
    assert.match(r.stderr, /SSL_CHROOT needs SSL_USER or SSL_UID/);
    r = await runServer(['127.0.0.1', '0', 'true'], { ...base, SSL_USER: 'no-such-user-here' });
    assert.equal(r.code, 111);
    assert.match(r.stderr, /unknown SSL_USER: no-such-user-here/);
  });
});

describe('privileges (root start without SSL identity)', () => {
  let dir: string;
  let rootKey: string;
  /** The test runner's (root's) bounding set: what a root program gets back at exec. */
  let fullCaps: string;
  const nobodyIds = (): string => `${NOBODY_ID.uid} ${NOBODY_ID.uid} ${NOBODY_ID.uid} ${NOBODY_ID.uid}`;
  const nobodyGids = (): string => `${NOBODY_ID.gid} ${NOBODY_ID.gid} ${NOBODY_ID.gid} ${NOBODY_ID.gid}`;
  before(() => {
    assert.equal(process.getuid?.(), 0, 'these tests run as root (as CI does)');
    fullCaps = status(process.pid).get('CapBnd') ?? '';
    assert.notEqual(fullCaps, NO_CAPS);
    dir = serverTmpDir('priv-noid-');
    // the start-up key is root's alone (0600, as the test certificates are)
    rootKey = join(testCerts(), 'server.key');
    assert.equal(statSync(rootKey).mode & 0o777, 0o600);
    assert.equal(statSync(rootKey).uid, 0);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('the network process becomes nobody with no capabilities; the spawner keeps CAP_SETUID|CAP_SETGID; a root program gets root\'s capabilities back', async () => {
    const srv = await startServer(['-v', '127.0.0.1', '0', ...SELF_STATUS]);
    try {
      const pid = srv.proc.pid as number;
      const net = status(pid);
      assert.equal(net.get('Uid'), nobodyIds());
      assert.equal(net.get('Gid'), nobodyGids());
      assert.equal(net.get('Groups'), '');
      assert.equal(net.get('CapEff'), NO_CAPS);
      assert.equal(net.get('CapPrm'), NO_CAPS);
      assert.equal(net.get('CapBnd'), NO_CAPS);
      assert.equal(net.get('CapInh'), NO_CAPS);
      assert.throws(() => childWith(pid, 'key-helper.js'), /no child/, 'no key helper without an SSL identity');
      const spawner = childWith(pid, 'sslserver-spawner');
      const sp = status(spawner);
      assert.equal(sp.get('Uid'), '0 0 0 0');
      assert.equal(sp.get('CapPrm'), SPAWNER_CAPS);
      assert.equal(sp.get('CapEff'), SPAWNER_CAPS);
      assert.equal(sp.get('CapInh'), NO_CAPS);
      assert.equal(sp.get('CapBnd'), fullCaps, 'the bounding set is kept for root programs');
      // no -u: root, with root's usual capabilities, as the reference
      const prog = statusLines((await tlsExchange(srv.port)).data.toString());
      assert.equal(prog.get('Uid'), '0 0 0 0');
      assert.equal(prog.get('CapEff'), fullCaps);
      assert.equal(prog.get('CapPrm'), fullCaps);
      // the start-up key (root's only) was read before the drop: TLS works
      await srv.waitFor(/ended by [0-9]+ status 0/);
    } finally {
      await srv.stop();
    }
  });

  it('-u 1 -g 1: the program has no capabilities at all', async () => {
    const srv = await startServer(['-u', '1', '-g', '1', '127.0.0.1', '0', ...SELF_STATUS]);
    try {
      const prog = statusLines((await tlsExchange(srv.port)).data.toString());
      assert.equal(prog.get('Uid'), '1 1 1 1');
      assert.equal(prog.get('Gid'), '1 1 1 1');
      assert.equal(prog.get('Groups'), '1');
      assert.equal(prog.get('CapEff'), NO_CAPS);
      assert.equal(prog.get('CapPrm'), NO_CAPS);
      assert.equal(status(srv.proc.pid as number).get('Uid'), nobodyIds());
    } finally {
      await srv.stop();
    }
  });

  it('-u 1: a program that ignores the end of its session is still stopped (the spawner may signal it)', async () => {
    // -w 1 ends the idle session; sleep never reads its stdin nor writes: only a signal ends it
    const srv = await startServer(['-v', '-w', '1', '-H', '-R', '-u', '1', '-g', '1', '127.0.0.1', '0', '/bin/sleep', '60']);
    try {
      const c = tls.connect({ host: '127.0.0.1', port: srv.port, rejectUnauthorized: false });
      c.on('error', () => undefined);
      await new Promise((r) => c.once('close', r));
      const pid = Number((/pid ([0-9]+)/.exec(await srv.waitFor(/^sslserver: pid /)) as RegExpExecArray)[1]);
      // SIGTERM at once after a failed session, SIGKILL 5 s later: both fail with EPERM without CAP_KILL
      await srv.waitFor(new RegExp(`^sslserver: ended by ${pid} status `), 8000);
      assert.equal(existsSync(`/proc/${pid}`), false, 'the program is gone');
    } finally {
      await srv.stop();
    }
  });

  it('a program running as nobody too cannot read the network process\'s memory nor ptrace it (non-dumpable)', async () => {
    const probeDir = serverTmpDir('priv-probe-');
    const srv = await startServer(['-u', String(NOBODY_ID.uid), '-g', String(NOBODY_ID.gid), '127.0.0.1', '0', PROBE], {
      env: { PROBE_DIR: probeDir, PROBE_KEY: rootKey },
    });
    try {
      const pid = srv.proc.pid as number;
      writeFileSync(join(probeDir, 'pids'), `${pid}\n`, { mode: 0o644 });
      const out = probeLines((await tlsExchange(srv.port)).data);
      assert.equal(out.get('uid'), `${NOBODY_ID.uid} gid=${NOBODY_ID.gid} groups=${NOBODY_ID.gid}`);
      assert.equal(status(pid).get('Uid'), nobodyIds(), 'the same uid as the program');
      assert.equal(out.get('key'), 'denied');
      assert.equal(out.get(`mem-${pid}`), 'denied');
      if (out.has(`ptrace-${pid}`)) assert.equal(out.get(`ptrace-${pid}`), 'denied');
    } finally {
      await srv.stop();
      rmSync(probeDir, { recursive: true, force: true });
    }
  });

  it('binds a privileged port as root, then drops to nobody', async () => {
    let srv: RunningServer | undefined;
    for (const port of [443, 636, 853, 990, 992, 993, 995, 465]) {
      try {
        srv = await startServer(['127.0.0.1', String(port), ...SELF_STATUS]);
        break;
      } catch {
        // that port is taken here: try the next
      }
    }
    assert.ok(srv !== undefined, 'no privileged port free');
    try {
      assert.ok(srv.port < 1024);
      const net = status(srv.proc.pid as number);
      assert.equal(net.get('Uid'), nobodyIds());
      assert.equal(net.get('CapEff'), NO_CAPS);
      assert.equal(net.get('CapBnd'), NO_CAPS);
      assert.equal(statusLines((await tlsExchange(srv.port)).data.toString()).get('Uid'), '0 0 0 0');
    } finally {
      await srv.stop();
    }
  });

  it('a rules file nobody may not open stops the start (111) with a line naming it and the identity; a missing one does not', async () => {
    const certs = testCerts();
    const base = { CERTFILE: join(certs, 'server.pem'), KEYFILE: rootKey, DHFILE: '' };
    const closed = mkdtempSync(join(tmpdir(), 'priv-closed-'));
    try {
      // in a 0700 directory (mkdtemp's mode)
      const hidden = join(closed, 'rules.cdb');
      execFileSync(process.execPath, [TCPRULES, hidden, `${hidden}.tmp`], { input: ':allow\n' });
      let r = await runServer(['-x', hidden, '127.0.0.1', '0', 'true'], base);
      assert.equal(r.code, 111);
      assert.equal(r.stderr, `sslserver: fatal: (111) unable to read: ${hidden} as uid ${NOBODY_ID.uid} gid ${NOBODY_ID.gid}: permission denied\n`);
      // a 0600 -y file in a 0755 directory
      const own = join(dir, 'ip.cdb');
      execFileSync(process.execPath, [TCPRULES, own, `${own}.tmp`], { input: ':allow\n' });
      chmodSync(own, 0o600);
      r = await runServer(['-y', own, '127.0.0.1', '0', 'true'], base);
      assert.equal(r.code, 111);
      assert.equal(r.stderr, `sslserver: fatal: (111) unable to read: ${own} as uid ${NOBODY_ID.uid} gid ${NOBODY_ID.gid}: permission denied\n`);
      // readable: it starts
      chmodSync(own, 0o644);
      (await startServer(['-y', own, '127.0.0.1', '0', 'true'])).proc.kill('SIGTERM');
    } finally {
      rmSync(closed, { recursive: true, force: true });
    }
    // a missing file may appear later (per connection: dropped, or allowed with -X)
    const srv = await startServer(['-X', '-x', join(dir, 'not-yet.cdb'), '127.0.0.1', '0', 'echo', 'ok']);
    try {
      assert.equal((await tlsExchange(srv.port)).data.toString(), 'ok\n');
    } finally {
      await srv.stop();
    }
  });

  it('a rule that changes only CIPHERS keeps the root-only start-up key; a root-only key only a rule names drops that connection', async () => {
    const cdb = join(dir, 'tls.cdb');
    const ecKey = join(testCerts(), 'ec-server.key');
    execFileSync(process.execPath, [TCPRULES, cdb, `${cdb}.tmp`], {
      input: `127.0.0.7:allow,CIPHERS="ECDHE-RSA-AES256-GCM-SHA384"\n127.0.0.8:allow,CERTFILE="${join(testCerts(), 'ec-server.pem')}",KEYFILE="${ecKey}"\n:allow\n`,
    });
    const srv = await startServer(['-x', cdb, '127.0.0.1', '0', 'echo', 'ok']);
    try {
      // the rule's own set-up is built (only its cipher is accepted) with the key read at start-up
      const aes256 = { maxVersion: 'TLSv1.2', ciphers: 'ECDHE-RSA-AES256-GCM-SHA384' } as const;
      const aes128 = { maxVersion: 'TLSv1.2', ciphers: 'ECDHE-RSA-AES128-GCM-SHA256' } as const;
      assert.equal((await tlsExchange(srv.port, '', { localAddress: '127.0.0.7', ...aes256 })).data.toString(), 'ok\n');
      await assert.rejects(tlsExchange(srv.port, '', { localAddress: '127.0.0.7', ...aes128 }));
      assert.equal((await tlsExchange(srv.port, '', { localAddress: '127.0.0.9', ...aes128 })).data.toString(), 'ok\n');
      await assert.rejects(tlsExchange(srv.port, '', { localAddress: '127.0.0.8' }));
      assert.equal(await srv.waitFor(/unable to load key/), `sslserver: error: (111) unable to load key: ${ecKey}`);
    } finally {
      await srv.stop();
    }
  });

  it('SSLSERVER_SPAWN=node (test/debug switch): no spawner, so the network process stays root and starts programs itself', async () => {
    const srv = await startServer(['127.0.0.1', '0', ...SELF_STATUS], { spawnImpl: 'node' });
    try {
      const pid = srv.proc.pid as number;
      assert.equal(status(pid).get('Uid'), '0 0 0 0');
      assert.equal(spawnerOf(pid), undefined);
      assert.equal(statusLines((await tlsExchange(srv.port)).data.toString()).get('Uid'), '0 0 0 0');
    } finally {
      await srv.stop();
    }
  });
});

describe('privileges (plain user)', () => {
  let dir: string;
  before(() => {
    const certs = testCerts();
    dir = mkdtempSync(join(tmpdir(), 'priv-user-'));
    chmodSync(dir, 0o755);
    for (const f of ['server.pem', 'server.key']) {
      copyFileSync(join(certs, f), join(dir, f));
      chownSync(join(dir, f), NOBODY, NOBODY);
    }
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** Runs sslserver as nobody until its -1 line (or its exit). */
  function asNobody(args: string[], env: Record<string, string>): Promise<{ code: number | null; stderr: string; port?: number; stop(): void }> {
    return new Promise((res) => {
      const p = spawn(process.execPath, [SSLSERVER, '-1', ...args], {
        uid: NOBODY,
        gid: NOBODY,
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', CERTFILE: join(dir, 'server.pem'), KEYFILE: join(dir, 'server.key'), DHFILE: '', ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      p.stdout.on('data', (d: Buffer) => {
        const m = / : ([0-9]+) \[/.exec(d.toString());
        if (m !== null) res({ code: null, stderr, port: Number(m[1]), stop: () => p.kill('SIGTERM') });
      });
      p.on('exit', (code) => res({ code, stderr, stop: () => undefined }));
    });
  }

  it('works without root (no chroot, no identity change)', async () => {
    const r = await asNobody(['127.0.0.1', '0', 'sh', '-c', 'id -u'], {});
    assert.ok(r.port !== undefined, r.stderr);
    try {
      assert.equal((await tlsExchange(r.port)).data.toString(), '65534\n');
    } finally {
      r.stop();
    }
  });

  it('asking for a chroot or another identity without root is a start-up error (111)', async () => {
    let r = await asNobody(['127.0.0.1', '0', 'true'], { SSL_USER: 'daemon' });
    assert.equal(r.code, 111);
    assert.match(r.stderr, /^sslserver: fatal: \(111\) unable to become SSL_UID 1 SSL_GID 1: not started as root$/m);
    r = await asNobody(['127.0.0.1', '0', 'true'], { SSL_CHROOT: dir });
    assert.equal(r.code, 111);
    assert.match(r.stderr, /unable to chroot to: .*: not started as root/);
    // the same identity is no change
    r = await asNobody(['127.0.0.1', '0', 'true'], { SSL_UID: '65534', SSL_GID: '65534' });
    assert.ok(r.port !== undefined, r.stderr);
    r.stop();
  });
});
