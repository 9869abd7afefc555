// SSL_* variables on real loopback TLS sessions: a hand-wrapped server TLSSocket (as the server
// does it), node tls.connect and openssl s_client as clients, openssl x509 as the oracle.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as tls from 'node:tls';
import { createServerContext, loadTlsMaterial } from '../../src/tls/context';
import type { ServerTlsConfig } from '../../src/tls/context';
import { tlsSettingsFromEnv } from '../../src/tls/settings';
import type { ClientCertMode } from '../../src/tls/settings';
import { clientVerifyStatus, sslEnv } from '../../src/tls/ssl-env';

const ROOT = resolve(__dirname, '../../..');
/** Bound on every session in this file. */
const SESSION_TIMEOUT_MS = 10_000;
let dir = '';
const f = (name: string): string => join(dir, name);

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'tls-env-'));
  execFileSync(join(ROOT, 'scripts/gen-test-certs.sh'), [dir]);
  // A client certificate under the intermediate CA, for VERIFYDEPTH.
  writeFileSync(f('client-inter.ext'), 'basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n');
  execFileSync('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', f('client-inter.key')]);
  execFileSync('openssl', ['req', '-new', '-key', f('client-inter.key'), '-subj', '/CN=deep client', '-out', f('client-inter.csr')]);
  execFileSync('openssl', ['x509', '-req', '-in', f('client-inter.csr'), '-CA', f('inter.pem'), '-CAkey', f('inter.key'),
    '-set_serial', '77', '-days', '30', '-extfile', f('client-inter.ext'), '-out', f('client-inter.pem')], { stdio: 'ignore' });
  writeFileSync(f('client-inter-chain.pem'), readFileSync(f('client-inter.pem'), 'latin1') + readFileSync(f('inter.pem'), 'latin1'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

function serverConfig(env: Record<string, string>, mode: ClientCertMode = 'none', password?: Buffer): ServerTlsConfig {
  const settings = tlsSettingsFromEnv({ CADIR: '', ...env }, mode);
  return createServerContext(loadTlsMaterial(settings, (p) => readFileSync(p), password), settings);
}

interface Outcome { env: Map<string, string>; names: string[]; verify: string }

/**
 * Accepts one connection on 127.0.0.1, wraps it as the server will, runs `client(port)`, and
 * returns the SSL_* block computed one turn after 'secure'.
 */
async function session(config: ServerTlsConfig, client: (port: number) => Promise<unknown>): Promise<Outcome> {
  const server = net.createServer();
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const port = (server.address() as net.AddressInfo).port;
  const outcome = new Promise<Outcome>((ok, fail) => {
    server.once('connection', (raw) => {
      const socket = new tls.TLSSocket(raw, {
        isServer: true, secureContext: config.secureContext, requestCert: config.requestCert, rejectUnauthorized: false,
      });
      socket.on('error', fail);
      socket.once('secure', () => setImmediate(() => {
        try {
          const entries = sslEnv(socket, config);
          ok({ env: new Map(entries), names: entries.map(([k]) => k), verify: clientVerifyStatus(socket, config) });
        } catch (err) {
          fail(err);
        }
        socket.end('done\n');
      }));
    });
  });
  const timer = setTimeout(() => server.close(), SESSION_TIMEOUT_MS);
  try {
    const [result] = await Promise.all([outcome, client(port)]);
    return result;
  } finally {
    clearTimeout(timer);
    server.close();
  }
}

function nodeClient(options: tls.ConnectionOptions): (port: number) => Promise<tls.TLSSocket> {
  return (port) => new Promise((ok, fail) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca: readFileSync(f('ca.pem')), ...options });
    socket.setTimeout(SESSION_TIMEOUT_MS, () => socket.destroy(new Error('client timeout')));
    socket.on('error', fail);
    socket.on('data', () => undefined);
    socket.on('end', () => { socket.end(); ok(socket); });
  });
}

function sClient(args: string[]): (port: number) => Promise<string> {
  return (port) => new Promise((ok, fail) => {
    const child = execFile('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'localhost', '-ign_eof', ...args],
      { timeout: SESSION_TIMEOUT_MS, encoding: 'latin1' }, (err, stdout) => (err ? fail(err) : ok(stdout)));
    child.stdin?.end();
  });
}

/** What `openssl x509` says about a certificate, in SSL_SERVER_ / SSL_CLIENT_ terms. */
function oracle(file: string): Record<string, string> {
  const run = (args: string[]) => execFileSync('openssl', ['x509', '-in', file, ...args], { encoding: 'latin1' });
  const info = run(['-noout', '-nameopt', 'compat', '-subject', '-issuer', '-serial', '-startdate', '-enddate']);
  const get = (k: string) => (new RegExp(`^${k}=(.*)$`, 'm').exec(info) as RegExpExecArray)[1] as string;
  const text = run(['-noout', '-text']);
  return {
    M_VERSION: (/Version: (\d+)/.exec(text) as RegExpExecArray)[1] as string,
    M_SERIAL: BigInt(`0x${get('serial')}`).toString(),
    S_DN: get('subject'), I_DN: get('issuer'),
    A_SIG: (/Signature Algorithm: (\S+)/.exec(text) as RegExpExecArray)[1] as string,
    A_KEY: (/Public Key Algorithm: (\S+)/.exec(text) as RegExpExecArray)[1] as string,
    V_START: get('notBefore'), V_END: get('notAfter'),
    CERT: run([]),
  };
}

function assertCertVars(out: Outcome, prefix: string, file: string): void {
  for (const [k, v] of Object.entries(oracle(file))) assert.equal(out.env.get(`${prefix}${k}`), v, `${prefix}${k}`);
}

const RSA_ORDER = [
  'SSL_PROTOCOL', 'SSL_SESSION_ID', 'SSL_CIPHER', 'SSL_CIPHER_EXPORT', 'SSL_CIPHER_USEKEYSIZE', 'SSL_CIPHER_ALGKEYSIZE',
  'SSL_VERSION_INTERFACE', 'SSL_VERSION_LIBRARY',
  'SSL_SERVER_M_VERSION', 'SSL_SERVER_M_SERIAL',
  'SSL_SERVER_S_DN', 'SSL_SERVER_S_DN_C', 'SSL_SERVER_S_DN_ST', 'SSL_SERVER_S_DN_O', 'SSL_SERVER_S_DN_CN',
  'SSL_SERVER_I_DN', 'SSL_SERVER_I_DN_C', 'SSL_SERVER_I_DN_O', 'SSL_SERVER_I_DN_CN',
  'SSL_SERVER_A_SIG', 'SSL_SERVER_A_KEY', 'SSL_SERVER_V_START', 'SSL_SERVER_V_END', 'SSL_SERVER_CERT',
];

test('RSA server, TLS 1.3, no client certificate: the 24-entry block in ssl_env.c order', async () => {
  const config = serverConfig({ CERTFILE: f('server.pem'), KEYFILE: f('server.key') });
  const out = await session(config, nodeClient({}));
  assert.deepEqual(out.names, RSA_ORDER);
  assert.equal(out.env.get('SSL_PROTOCOL'), 'TLSv1.3');
  assert.match(out.env.get('SSL_SESSION_ID') ?? '', /^[0-9a-f]{64}$/);
  assert.equal(out.env.get('SSL_CIPHER'), 'TLS_AES_256_GCM_SHA384');
  assert.equal(out.env.get('SSL_CIPHER_EXPORT'), 'false');
  assert.equal(out.env.get('SSL_CIPHER_USEKEYSIZE'), '256');
  assert.equal(out.env.get('SSL_CIPHER_ALGKEYSIZE'), '256');
  assert.equal(out.env.get('SSL_VERSION_INTERFACE'), 'ucspi-ssl');
  assert.match(out.env.get('SSL_VERSION_LIBRARY') ?? '', new RegExp(`^OpenSSL ${process.versions.openssl.replace(/[.+]/g, '\\$&')}`));
  assert.equal(out.env.get('SSL_SERVER_M_SERIAL'), '4660');
  assert.equal(out.env.get('SSL_SERVER_S_DN'), '/C=DE/ST=Berlin/O=Acceptance Server/CN=localhost');
  assert.equal(out.env.get('SSL_SERVER_S_DN_O'), 'Acceptance Server');
  assert.equal(out.env.get('SSL_SERVER_I_DN_CN'), 'Acceptance Root CA');
  assertCertVars(out, 'SSL_SERVER_', f('server.pem'));
  assert.equal(out.verify, 'NONE');
});

test('TLS 1.2 through openssl s_client without tickets: the session id is the one s_client shows', async () => {
  const config = serverConfig({ CERTFILE: f('server-combined.pem') });
  let transcript = '';
  const out = await session(config, async (port) => { transcript = await sClient(['-tls1_2', '-no_ticket'])(port); });
  assert.equal(out.env.get('SSL_PROTOCOL'), 'TLSv1.2');
  const id = /Session-ID: ([0-9A-F]*)/.exec(transcript)?.[1];
  assert.match(id ?? '', /^[0-9A-F]{64}$/);
  assert.equal(out.env.get('SSL_SESSION_ID'), id?.toLowerCase());
  assert.equal(out.env.get('SSL_CIPHER'), /Cipher\s+: (\S+)/.exec(transcript)?.[1]);
  assert.equal(out.env.get('SSL_CIPHER'), 'ECDHE-RSA-AES256-GCM-SHA384');
});

test('TLS 1.3 through openssl s_client, with an encrypted key', async () => {
  const config = serverConfig({ CERTFILE: f('server.pem'), KEYFILE: f('server-enc.key') }, 'none', Buffer.from('secret'));
  let transcript = '';
  const out = await session(config, async (port) => { transcript = await sClient(['-tls1_3'])(port); });
  assert.equal(out.env.get('SSL_PROTOCOL'), 'TLSv1.3');
  assert.equal(out.env.get('SSL_CIPHER'), /Cipher is (\S+)/.exec(transcript)?.[1]);
  assert.match(out.env.get('SSL_SESSION_ID') ?? '', /^[0-9a-f]{64}$/);
});

test('ECDSA server certificate, TLS 1.2 with CIPHERS as a TLS 1.2 list', async () => {
  const config = serverConfig({ CERTFILE: f('ec-server.pem'), KEYFILE: f('ec-server.key'), CIPHERS: 'ECDHE-ECDSA-AES128-GCM-SHA256' });
  const out = await session(config, nodeClient({ maxVersion: 'TLSv1.2' }));
  assert.equal(out.env.get('SSL_CIPHER'), 'ECDHE-ECDSA-AES128-GCM-SHA256');
  assert.equal(out.env.get('SSL_CIPHER_USEKEYSIZE'), '128');
  assert.equal(out.env.get('SSL_SERVER_A_KEY'), 'id-ecPublicKey');
  assertCertVars(out, 'SSL_SERVER_', f('ec-server.pem'));
});

test('CERTCHAINFILE: the client gets leaf and intermediate; SSL_SERVER_* describe the leaf', async () => {
  const config = serverConfig({ CERTCHAINFILE: f('chain.pem'), KEYFILE: f('chain-leaf.key'), DHFILE: f('dh2048.pem') });
  let peerChain: string[] = [];
  const out = await session(config, async (port) => {
    const socket = await nodeClient({})(port);
    assert.equal(socket.authorized, true, String(socket.authorizationError));
    const leaf = socket.getPeerCertificate(true);
    peerChain = [String(leaf.subject.CN), String(leaf.issuerCertificate?.subject.CN)];
  });
  assert.deepEqual(peerChain, ['localhost', 'Acceptance Intermediate CA']);
  assert.equal(out.env.get('SSL_SERVER_A_SIG'), 'ecdsa-with-SHA256');
  assert.equal(out.env.get('SSL_SERVER_M_SERIAL'), '123456789012345678901234567890');
  assert.equal(out.env.get('SSL_SERVER_S_DN_L'), 'Potsdam');
  assert.equal(out.env.get('SSL_SERVER_I_DN_OU'), 'Intermediate');
  assertCertVars(out, 'SSL_SERVER_', f('chain-leaf.pem'));
});

const clientCa = { CERTFILE: f('server-combined.pem'), CAFILE: '', CCAFILE: '' };
const withCa = () => ({ ...clientCa, CERTFILE: f('server-combined.pem'), CAFILE: f('ca.pem'), CCAFILE: f('ca.pem') });

test('a verified client certificate: SSL_CLIENT_* after SSL_SERVER_*, SSL_CLIENT_VERIFY=SUCCESS', async () => {
  const config = serverConfig(withCa(), 'verify');
  const out = await session(config, nodeClient({ cert: readFileSync(f('client-san.pem')), key: readFileSync(f('client-san.key')) }));
  assert.equal(out.verify, 'SUCCESS');
  assert.equal(out.env.get('SSL_CLIENT_VERIFY'), 'SUCCESS');
  assert.equal(out.names[out.names.length - 1], 'SSL_CLIENT_VERIFY');
  assert.deepEqual(out.names.slice(0, 24), RSA_ORDER);
  assert.deepEqual(out.names.slice(24, -1), [
    'SSL_CLIENT_M_VERSION', 'SSL_CLIENT_M_SERIAL', 'SSL_CLIENT_S_DN', 'SSL_CLIENT_S_DN_C', 'SSL_CLIENT_S_DN_O', 'SSL_CLIENT_S_DN_CN',
    'SSL_CLIENT_I_DN', 'SSL_CLIENT_I_DN_C', 'SSL_CLIENT_I_DN_O', 'SSL_CLIENT_I_DN_CN',
    'SSL_CLIENT_A_SIG', 'SSL_CLIENT_A_KEY', 'SSL_CLIENT_V_START', 'SSL_CLIENT_V_END', 'SSL_CLIENT_CERT',
  ]);
  assertCertVars(out, 'SSL_CLIENT_', f('client-san.pem'));
});

test('odd client subject: UTF-8, escaped slash, multi-valued RDN, all DN_x components', async () => {
  const config = serverConfig(withCa(), 'verify-host');
  const out = await session(config, nodeClient({ cert: readFileSync(f('client-odd.pem')), key: readFileSync(f('client-odd.key')) }));
  assert.equal(out.verify, 'SUCCESS');
  assertCertVars(out, 'SSL_CLIENT_', f('client-odd.pem'));
  assert.equal(out.env.get('SSL_CLIENT_S_DN_CN'), 'J\u00f6rg M\u00fcller');
  assert.equal(out.env.get('SSL_CLIENT_S_DN_O'), 'Slash/Corp');
  assert.equal(out.env.get('SSL_CLIENT_S_DN_OU'), 'Unit B');
  assert.deepEqual(out.names.filter((n) => n.startsWith('SSL_CLIENT_S_DN_')).map((n) => n.slice(16)),
    ['C', 'ST', 'L', 'O', 'OU', 'CN', 'T', 'I', 'G', 'S', 'D', 'Email']);
});

test('client certificate from another CA: FAILED with OpenSSL\'s reason', async () => {
  const config = serverConfig(withCa(), 'verify');
  const out = await session(config, nodeClient({ cert: readFileSync(f('client-other.pem')), key: readFileSync(f('client-other.key')) }));
  assert.match(out.verify, /^FAILED:unable to (verify the first certificate|get local issuer certificate)$/);
  assert.equal(out.env.get('SSL_CLIENT_VERIFY'), out.verify);
  assertCertVars(out, 'SSL_CLIENT_', f('client-other.pem'));
});

test('no client certificate sent: SSL_CLIENT_VERIFY=NONE, no SSL_CLIENT_* certificate variables', async () => {
  const config = serverConfig(withCa(), 'verify');
  const out = await session(config, nodeClient({}));
  assert.equal(out.verify, 'NONE');
  assert.deepEqual(out.names.filter((n) => n.startsWith('SSL_CLIENT_')), ['SSL_CLIENT_VERIFY']);
});

test('a CA only in CCAFILE is named in the request but is no trust anchor', async () => {
  const config = serverConfig({ ...withCa(), CAFILE: f('other-ca.pem') }, 'verify');
  const out = await session(config, nodeClient({ cert: readFileSync(f('client-san.pem')), key: readFileSync(f('client-san.key')) }));
  assert.equal(out.verify, 'FAILED:unable to get local issuer certificate');
});

test('-m without CCAFILE still requests (and verifies) a certificate', async () => {
  const config = serverConfig({ ...withCa(), CCAFILE: '' }, 'verify');
  assert.equal(config.requestCert, true);
  const out = await session(config, nodeClient({ cert: readFileSync(f('client-cn.pem')), key: readFileSync(f('client-cn.key')) }));
  assert.equal(out.verify, 'SUCCESS');
  assert.equal(out.env.get('SSL_CLIENT_S_DN_CN'), 'localhost');
});

test('VERIFYDEPTH counts intermediates as OpenSSL does', async () => {
  const client = nodeClient({ cert: readFileSync(f('client-inter-chain.pem')), key: readFileSync(f('client-inter.key')) });
  const shallow = await session(serverConfig({ ...withCa(), VERIFYDEPTH: '0' }, 'verify'), client);
  assert.equal(shallow.verify, 'FAILED:certificate chain too long');
  const deep = await session(serverConfig({ ...withCa(), VERIFYDEPTH: '1' }, 'verify'), client);
  assert.equal(deep.verify, 'SUCCESS');
  assert.equal(deep.env.get('SSL_CLIENT_I_DN_CN'), 'Acceptance Intermediate CA');
});
