// sslserver start-up: usage, bad options, TLS material errors and bind errors, with exact messages.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { FIXTURES, runServer, SSLSERVER, startServer, testCerts, tlsExchange } from './harness';

const USAGE =
  'sslserver: usage: sslserver [ -1346UXpPhHrRoOdDqQvVIeEsSnNmzZ ] [ -c limit ] [ -y iprules.cdb ] [ -x rules.cdb ] [ -B banner ] [ -g gid ] [ -u uid ] [ -b backlog ] [ -l localname ] [ -t timeout ] [ -I interface ] [ -T ssltimeout ] [ -w progtimeout ] host port program\n';
const PROG = join(FIXTURES, 'hello.sh');

test('sslserver prints the usage line and exits 100 without host, port or program', async () => {
  for (const args of [[], ['127.0.0.1'], ['127.0.0.1', '0']]) {
    const r = await runServer(args);
    assert.equal(r.code, 100, args.join(' '));
    assert.equal(r.stderr, USAGE);
    assert.equal(r.stdout, '');
  }
});

test('sslserver reports an illegal option before the usage line and exits 100', async () => {
  const r = await runServer(['-k', '127.0.0.1', '0', PROG]);
  assert.equal(r.code, 100);
  assert.equal(r.stderr, `sslserver: illegal option -- k\n${USAGE}`);
});

test('sslserver exits 100 on a bad option value', async () => {
  const r = await runServer(['-c', 'abc', '127.0.0.1', '0', PROG]);
  assert.equal(r.code, 100);
  assert.match(r.stderr, /usage: sslserver/);
});

test('sslserver exits 111 with the reference messages for bad TLS material', async () => {
  const c = testCerts();
  const cases: Array<[Record<string, string>, string]> = [
    [{ CERTFILE: join(c, 'missing.pem'), KEYFILE: join(c, 'server.key') }, `sslserver: error: (111) unable to load certificate: ${join(c, 'missing.pem')}\n`],
    [{ CERTFILE: '', KEYFILE: join(c, 'server.key') }, 'sslserver: error: (111) unable to load certificate: \n'],
    [{ CERTFILE: join(c, 'server.pem'), KEYFILE: join(c, 'missing.key') }, `sslserver: error: (111) unable to load key: ${join(c, 'missing.key')}\n`],
    [{ CERTFILE: join(c, 'server.pem'), KEYFILE: join(c, 'ec-server.key') }, `sslserver: error: (111) unable to load key: ${join(c, 'ec-server.key')}\n`],
    [{ CERTCHAINFILE: join(c, 'missing.pem'), KEYFILE: join(c, 'server.key') }, `sslserver: error: (111) unable to load certificate chain file: ${join(c, 'missing.pem')}\n`],
    [{ CERTFILE: join(c, 'server.pem'), KEYFILE: join(c, 'server.key'), CIPHERS: 'NO-SUCH-CIPHER' }, 'sslserver: error: (111) unable to set cipher list\n'],
    [{ CERTFILE: join(c, 'server.pem'), KEYFILE: join(c, 'server.key'), DHFILE: join(c, 'server.pem') }, 'sslserver: error: (111) unable to set DH parameters\n'],
  ];
  for (const [env, want] of cases) {
    // -1: the files are checked before the port is bound and printed (the reference prints first)
    const r = await runServer(['-1', '127.0.0.1', '0', PROG], { DHFILE: '', ...env });
    assert.equal(r.code, 111, JSON.stringify(env));
    assert.equal(r.stderr, want, JSON.stringify(env));
    assert.equal(r.stdout, '', JSON.stringify(env));
  }
});

test('sslserver exits 111 when the port is taken or unknown', async () => {
  const c = testCerts();
  const env = { CERTFILE: join(c, 'server.pem'), KEYFILE: join(c, 'server.key'), DHFILE: '' };
  const blocker = net.createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
  const port = (blocker.address() as net.AddressInfo).port;
  try {
    const r = await runServer(['127.0.0.1', String(port), PROG], env);
    assert.equal(r.code, 111);
    assert.equal(r.stderr, `sslserver: fatal: (111) unable to bind to: 127.0.0.1 port: ${port}\n`);
  } finally {
    blocker.close();
  }
  const r2 = await runServer(['127.0.0.1', 'no-such-service', PROG], env);
  assert.equal(r2.code, 111);
  assert.equal(r2.stderr, 'sslserver: fatal: (111) unable to figure out port number for: no-such-service\n');
  const r3 = await runServer(['-q', '127.0.0.1', 'no-such-service', PROG], env);
  assert.equal(r3.code, 111);
  assert.equal(r3.stderr, '', '-q silences the message, not the exit code');
});

test('sslserver -1 prints the bound address, the real port and LIMIT/MAXCONIP', async () => {
  const s = await startServer(['-c', '7', '127.0.0.1', '0', PROG], { env: { MAXCONIP: '3' } });
  try {
    assert.match(s.firstLine, /^127\.0\.0\.1 : [0-9]+ \[7\/3\]$/);
    assert.notEqual(s.port, 0);
  } finally {
    assert.equal(await s.stop(), 0);
  }
});

test('the installed command runs node through its shebang with its V8 flags, and serves', async () => {
  const s = await startServer(['127.0.0.1', '0', PROG], { asInstalled: true });
  try {
    const argv = readFileSync(`/proc/${s.proc.pid}/cmdline`, 'utf8').split('\0');
    assert.match(argv[0] as string, /(^|\/)node$/);
    assert.deepEqual(argv.slice(1, 4), ['--max-semi-space-size=4', '--interrupt-budget=4096', SSLSERVER]);
    const { data } = await tlsExchange(s.port);
    assert.equal(data.toString(), 'hello from 127.0.0.1\n');
  } finally {
    assert.equal(await s.stop(), 0);
  }
});

test('sslserver -v prints the settings and the status line at start', async () => {
  const c = testCerts();
  const s = await startServer(['-v', '127.0.0.1', '0', PROG]);
  try {
    await s.waitFor(/^sslserver: status: 0\/40\/40$/);
    const pid = s.proc.pid as number;
    assert.deepEqual(s.lines().slice(0, 9), [
      `sslserver: ciphers ${pid} `,
      `sslserver: cafile ${pid} `,
      `sslserver: ccafile ${pid} `,
      `sslserver: cadir ${pid} /usr/local/ssl/certs`,
      `sslserver: certchainfile ${pid} `,
      `sslserver: cert ${pid} ${join(c, 'server.pem')}`,
      `sslserver: key ${pid} ${join(c, 'server.key')}`,
      `sslserver: dhparam ${pid}  4096`,
      'sslserver: status: 0/40/40',
    ]);
  } finally {
    await s.stop();
  }
});
