// -m / -z client certificates through the whole server: accept and reject (no certificate, wrong
// CA, depth, host name), SSL_CLIENT_* against openssl x509, CCAFILE=-, and the same under -n with Y.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { decodeEnvBlock } from '../../src/tls/ucspi-tls';
import { startDnsServer, TYPE_PTR, type TestDnsServer } from '../fixtures/dns-server';
import { FIXTURES, parseEnv, startServer, testCerts, type RunningServer } from './harness';

const PRINT_ENV = join(FIXTURES, 'print-env.sh');
const PROBE = join(FIXTURES, 'ucspi-tls-probe.sh');
const CLIENT_TIMEOUT_MS = 15_000;
/** A loopback address for the test resolver (DNSCACHEIP), port 53. */
const DNS_IP = '127.0.6.53';

let dir = '';
let certs = '';
let dns: TestDnsServer | undefined;
const c = (name: string): string => join(certs, name);
const f = (name: string): string => join(dir, name);

before(async () => {
  certs = testCerts();
  dir = mkdtempSync(join(tmpdir(), 'client-cert-'));
  // a client certificate one intermediate below the root, for VERIFYDEPTH
  writeFileSync(f('deep.ext'), 'basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n');
  execFileSync('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', f('deep.key')]);
  execFileSync('openssl', ['req', '-new', '-key', f('deep.key'), '-subj', '/CN=deep client', '-out', f('deep.csr')]);
  execFileSync('openssl', ['x509', '-req', '-in', f('deep.csr'), '-CA', c('inter.pem'), '-CAkey', c('inter.key'),
    '-set_serial', '77', '-days', '30', '-extfile', f('deep.ext'), '-out', f('deep.pem')], { stdio: 'ignore' });
  writeFileSync(f('deep-chain.pem'), readFileSync(f('deep.pem'), 'latin1') + readFileSync(c('inter.pem'), 'latin1'));
  // PTR 127.0.0.1 -> client.test.example, for -z
  dns = await startDnsServer(DNS_IP, (name, type) => (name === '1.0.0.127.in-addr.arpa' && type === TYPE_PTR ? [{ type: TYPE_PTR, data: 'client.test.example' }] : undefined));
});
after(async () => {
  await dns?.close();
  rmSync(dir, { recursive: true, force: true });
});

const TRUST = { CAFILE: '', CADIR: '' };
const trust = (): Record<string, string> => ({ ...TRUST, CAFILE: c('ca.pem') });

function clientOpts(name: string | undefined, chainFile?: string): tls.ConnectionOptions {
  if (name === undefined) return {};
  return { cert: readFileSync(chainFile ?? c(`${name}.pem`)), key: readFileSync(name === 'deep' ? f('deep.key') : c(`${name}.key`)) };
}

/** A TLS client that sends nothing, half-closes, and reads to the end; errors are returned, not thrown. */
function tlsClient(port: number, opts: tls.ConnectionOptions): Promise<{ data: string; error?: Error }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let error: Error | undefined;
    const s = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca: readFileSync(c('ca.pem')), ...opts }, () => s.end());
    s.setTimeout(CLIENT_TIMEOUT_MS, () => s.destroy(new Error('client timeout')));
    s.on('data', (d: Buffer) => chunks.push(d));
    s.on('error', (err) => (error = err));
    s.on('close', () => resolve({ data: Buffer.concat(chunks).toString('utf8'), ...(error === undefined ? {} : { error }) }));
  });
}

/** What `openssl x509` says about a certificate, as SSL_CLIENT_* values. */
function oracle(file: string): Record<string, string> {
  const x509 = (args: string[]): string => execFileSync('openssl', ['x509', '-in', file, ...args], { encoding: 'utf8' });
  const info = x509(['-noout', '-nameopt', 'compat', '-subject', '-issuer', '-serial', '-startdate', '-enddate']);
  const get = (k: string): string => (new RegExp(`^${k}=(.*)$`, 'm').exec(info) as RegExpExecArray)[1] as string;
  const text = x509(['-noout', '-text']);
  return {
    SSL_CLIENT_M_VERSION: (/Version: (\d+)/.exec(text) as RegExpExecArray)[1] as string,
    SSL_CLIENT_M_SERIAL: BigInt(`0x${get('serial')}`).toString(),
    SSL_CLIENT_S_DN: get('subject'),
    SSL_CLIENT_I_DN: get('issuer'),
    SSL_CLIENT_A_SIG: (/Signature Algorithm: (\S+)/.exec(text) as RegExpExecArray)[1] as string,
    SSL_CLIENT_A_KEY: (/Public Key Algorithm: (\S+)/.exec(text) as RegExpExecArray)[1] as string,
    SSL_CLIENT_V_START: get('notBefore'),
    SSL_CLIENT_V_END: get('notAfter'),
    SSL_CLIENT_CERT: x509([]),
  };
}

async function withServer(args: string[], env: Record<string, string>, body: (s: RunningServer) => Promise<void>): Promise<void> {
  const s = await startServer(args, { env });
  try {
    await body(s);
  } finally {
    await s.stop();
  }
}

/** Asserts a rejection: the client got nothing, no program ran, one log line, the end status. */
async function assertRejected(s: RunningServer, got: { data: string }, line: RegExp, status: number): Promise<void> {
  assert.equal(got.data, '', 'a rejected client never sees program output');
  const ended = await s.waitFor(/^sslserver: ended by [0-9]+ status /);
  assert.equal(ended.endsWith(` status ${status}`), true, ended);
  assert.ok(s.lines().some((l) => line.test(l)), `${line} in\n${s.lines().join('\n')}`);
  assert.equal(s.lines().some((l) => /^sslserver: (pid|ok) /.test(l)), false, 'no program was started');
}

test('-m: a verified certificate is accepted; SSL_CLIENT_* match openssl x509 and SSL_CLIENT_VERIFY=SUCCESS', async () => {
  await withServer(['-v', '-s', '-m', '-H', '-R', '127.0.0.1', '0', PRINT_ENV], trust(), async (s) => {
    const got = await tlsClient(s.port, clientOpts('client-san'));
    assert.equal(got.error, undefined);
    assert.match(got.data, /\nSSL_PROTOCOL=TLSv1\.3\n/, `${got.data}\n${s.lines().join('\n')}`);
    const env = parseEnv(got.data);
    const want = oracle(c('client-san.pem'));
    for (const [k, v] of Object.entries(want)) if (k !== 'SSL_CLIENT_CERT') assert.equal(env.get(k), v, k);
    // print-env.sh sorts `env` line by line, which scatters a PEM: only its first line is seen here
    // (the whole PEM is compared in the -n test, where the Y block carries it intact)
    assert.equal(env.get('SSL_CLIENT_CERT'), '-----BEGIN CERTIFICATE-----');
    assert.equal(env.get('SSL_CLIENT_S_DN_CN'), 'Client With SAN');
    assert.equal(env.get('SSL_CLIENT_I_DN_CN'), 'Acceptance Root CA');
    assert.equal(env.get('SSL_CLIENT_VERIFY'), 'SUCCESS');
    const pid = (/pid ([0-9]+)/.exec(await s.waitFor(/^sslserver: pid /)) as RegExpExecArray)[1] as string;
    // the program exits by itself after the client's close_notify: no SIGTERM race (EXIT_GRACE_MS)
    await s.waitFor(new RegExp(`^sslserver: ended by ${pid} status 0$`));
    assert.ok(s.lines().includes(`sslserver: info: valid client cert received from: 127.0.0.1 for pid: ${pid}`));
  });
});

test('-m rejects: no certificate (110), a certificate from another CA (111)', async () => {
  await withServer(['-v', '-m', '-H', '-R', '127.0.0.1', '0', PRINT_ENV], trust(), async (s) => {
    const got = await tlsClient(s.port, {});
    await assertRejected(s, got, /^sslserver: error: \(110\) no client certificate from: 127\.0\.0\.1 for pid: [0-9]+$/, 28160);
  });
  await withServer(['-v', '-m', '-H', '-R', '127.0.0.1', '0', PRINT_ENV], trust(), async (s) => {
    const got = await tlsClient(s.port, clientOpts('client-other'));
    await assertRejected(s, got, /^sslserver: fatal: \(111\) unable to accept TLS from: 127\.0\.0\.1 for pid: [0-9]+ certificate verify failed$/, 28416);
  });
});

test('-m with CCAFILE: no certificate fails as the reference\'s handshake does (111, peer did not return a certificate)', async () => {
  await withServer(['-v', '-m', '-H', '-R', '127.0.0.1', '0', PRINT_ENV], { ...trust(), CCAFILE: c('ca.pem') }, async (s) => {
    const got = await tlsClient(s.port, {});
    await assertRejected(s, got, /^sslserver: fatal: \(111\) unable to accept TLS from: 127\.0\.0\.1 for pid: [0-9]+ peer did not return a certificate$/, 28416);
    assert.equal(s.lines().some((l) => l.includes('no client certificate')), false);
  });
  // and a certificate from that CA still passes
  await withServer(['-v', '-m', '-H', '-R', '127.0.0.1', '0', PRINT_ENV], { ...trust(), CCAFILE: c('ca.pem') }, async (s) => {
    const got = await tlsClient(s.port, clientOpts('client-san'));
    assert.match(got.data, /SSLREMOTEIP=127\.0\.0\.1\n/, `${got.data}\n${s.lines().join('\n')}`);
  });
});

test('VERIFYDEPTH: one intermediate passes at depth 1 and fails at depth 0', async () => {
  await withServer(['-v', '-s', '-m', '-H', '-R', '127.0.0.1', '0', PRINT_ENV], { ...trust(), VERIFYDEPTH: '1' }, async (s) => {
    const got = await tlsClient(s.port, clientOpts('deep', f('deep-chain.pem')));
    const env = parseEnv(got.data);
    assert.equal(env.get('SSL_CLIENT_VERIFY'), 'SUCCESS');
    assert.equal(env.get('SSL_CLIENT_S_DN'), oracle(f('deep.pem')).SSL_CLIENT_S_DN);
  });
  await withServer(['-v', '-m', '-H', '-R', '127.0.0.1', '0', PRINT_ENV], { ...trust(), VERIFYDEPTH: '0' }, async (s) => {
    const got = await tlsClient(s.port, clientOpts('deep', f('deep-chain.pem')));
    await assertRejected(s, got, /^sslserver: fatal: \(111\) unable to accept TLS from: 127\.0\.0\.1 for pid: [0-9]+ certificate verify failed$/, 28416);
  });
});

test('CCAFILE=- turns -m off: no certificate is requested, none is needed', async () => {
  await withServer(['-v', '-s', '-m', '-H', '-R', '127.0.0.1', '0', PRINT_ENV], { ...trust(), CCAFILE: '-' }, async (s) => {
    const got = await tlsClient(s.port, clientOpts('client-san'));
    const env = parseEnv(got.data);
    assert.equal(env.get('SSL_PROTOCOL'), 'TLSv1.3', `${String(got.error)} ${got.data}\n${s.lines().join('\n')}`);
    assert.equal(env.has('SSL_CLIENT_S_DN'), false, 'no certificate was asked for, so none was sent');
    assert.equal(env.has('SSL_CLIENT_VERIFY'), false);
  });
});

test('-z: the peer name (PTR client.test.example) must be a SAN DNS entry; CN used only without SAN DNS', async () => {
  const env = { ...trust(), DNSCACHEIP: DNS_IP };
  await withServer(['-v', '-s', '-z', '-R', '127.0.0.1', '0', PRINT_ENV], env, async (s) => {
    const got = await tlsClient(s.port, clientOpts('client-san'));
    const e = parseEnv(got.data);
    assert.equal(e.get('SSLREMOTEHOST'), 'client.test.example', 'the test resolver answered');
    assert.equal(e.get('SSL_CLIENT_VERIFY'), 'SUCCESS');
  });
  await withServer(['-v', '-z', '-R', '127.0.0.1', '0', PRINT_ENV], env, async (s) => {
    // CN=localhost, no SAN: compared by CN, and it does not match
    const got = await tlsClient(s.port, clientOpts('client-cn'));
    await assertRejected(s, got, /^sslserver: error: \(110\) client hostname does not match certificate for pid: [0-9]+ client\.test\.example <=> localhost$/, 28160);
  });
  // no host name (-H): nothing to compare, a verified certificate is enough
  await withServer(['-v', '-s', '-z', '-H', '-R', '127.0.0.1', '0', PRINT_ENV], env, async (s) => {
    const got = await tlsClient(s.port, clientOpts('client-cn'));
    assert.equal(parseEnv(got.data).get('SSL_CLIENT_S_DN_CN'), 'localhost');
  });
});

/** STARTTLS against the probe under -n with PROBE_CMD=Y; returns the TLS-side output. */
function starttls(port: number, opts: tls.ConnectionOptions): Promise<{ tls: string; error?: Error }> {
  return new Promise((resolve, reject) => {
    const raw = net.connect({ host: '127.0.0.1', port });
    let plain = '';
    raw.on('error', reject);
    const onData = (d: Buffer): void => {
      plain += d.toString('latin1');
      if (!plain.includes('\r\n')) return;
      raw.off('data', onData);
      raw.off('error', reject);
      raw.write('go\n');
      const chunks: Buffer[] = [];
      let error: Error | undefined;
      const s = tls.connect({ socket: raw, servername: 'localhost', ca: readFileSync(c('ca.pem')), ...opts }, () => s.end('hi\n'));
      s.setTimeout(CLIENT_TIMEOUT_MS, () => s.destroy(new Error('client timeout')));
      s.on('data', (x: Buffer) => chunks.push(x));
      s.on('error', (err) => (error = err));
      s.on('close', () => resolve({ tls: Buffer.concat(chunks).toString('latin1'), ...(error === undefined ? {} : { error }) }));
    };
    raw.on('data', onData);
  });
}

test('-n with Y and -m: the block carries SSL_CLIENT_* and SSL_CLIENT_VERIFY; a client without a certificate gets nothing', async () => {
  const env = { ...trust(), PROBE_CMD: 'Y' };
  await withServer(['-v', '-m', '-n', '-H', '-R', '127.0.0.1', '0', PROBE], env, async (s) => {
    const r = await starttls(s.port, clientOpts('client-san'));
    const m = /^tls:hi\nctl:([A-Za-z0-9+/=]*)\n$/.exec(r.tls);
    assert.ok(m, r.tls);
    const block = new Map(decodeEnvBlock(Buffer.from(m[1] as string, 'base64'))?.entries);
    for (const [k, v] of Object.entries(oracle(c('client-san.pem')))) assert.equal(block.get(k), v, k);
    assert.equal(block.get('SSL_CLIENT_VERIFY'), 'SUCCESS');
    const pid = (/pid ([0-9]+)/.exec(await s.waitFor(/^sslserver: pid /)) as RegExpExecArray)[1] as string;
    await s.waitFor(new RegExp(`^sslserver: ended by ${pid} status 0$`));
    assert.ok(s.lines().includes(`sslserver: info: valid client cert received from: 127.0.0.1 for pid: ${pid}`));
  });
  await withServer(['-v', '-m', '-n', '-H', '-R', '127.0.0.1', '0', PROBE], env, async (s) => {
    const r = await starttls(s.port, {});
    assert.equal(r.tls, '', 'no program output over TLS');
    const pid = (/pid ([0-9]+)/.exec(await s.waitFor(/^sslserver: pid /)) as RegExpExecArray)[1] as string;
    // under -n the program runs before TLS; it is stopped before it gets the block or any data
    await s.waitFor(new RegExp(`^sslserver: ended by ${pid} status 28160$`));
    assert.ok(s.lines().includes(`sslserver: error: (110) no client certificate from: 127.0.0.1 for pid: ${pid}`));
    assert.equal(s.lines().some((l) => l.includes(`tls ${pid} accept`)), false);
  });
});
