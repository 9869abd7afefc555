// Tests for loadTlsMaterial / createServerContext: what loads, and each startup error's exact text.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ConfigError } from '../errors';
import { createServerContext, loadTlsMaterial } from './context';
import type { TlsSettings } from './settings';

const ROOT = resolve(__dirname, '../../..');
let dir = '';
const read = (path: string): Buffer => readFileSync(path);
const f = (name: string): string => join(dir, name);
const base = (extra: Partial<TlsSettings>): TlsSettings => ({ verifyDepth: 1, clientCert: 'none', ...extra });
const SECRET = Buffer.from('secret');

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'tls-context-'));
  execFileSync(join(ROOT, 'scripts/gen-test-certs.sh'), [dir]);
  execFileSync('openssl', ['dhparam', '-dsaparam', '-out', f('dh1024.pem'), '1024'], { stdio: 'ignore' });
  writeFileSync(f('junk.pem'), 'not a pem file\n');
});
after(() => rmSync(dir, { recursive: true, force: true }));

function assertConfigError(fn: () => unknown, message: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ConfigError, String(err));
    assert.equal(err.message, message);
    return true;
  });
}
const load = (s: TlsSettings, password?: Buffer) => createServerContext(loadTlsMaterial(s, read, password), s);

test('loads an RSA certificate with its key, and the key from a combined CERTFILE', () => {
  const config = load(base({ certFile: f('server.pem'), keyFile: f('server.key') }));
  assert.equal(config.serverCert.serial, '4660');
  assert.equal(config.requestCert, false);
  assert.equal(config.rejectUnauthorized, false);
  assert.equal(load(base({ certFile: f('server-combined.pem') })).serverCert.serial, '4660');
});

test('decrypts PKCS#8, traditional RSA and EC keys with the -3 password', () => {
  load(base({ certFile: f('server.pem'), keyFile: f('server-enc.key') }), SECRET);
  load(base({ certFile: f('server.pem'), keyFile: f('server-enc-trad.key') }), SECRET);
  const ec = load(base({ certFile: f('ec-server.pem'), keyFile: f('ec-server-enc.key') }), SECRET);
  assert.equal(ec.serverCert.keyAlgorithm, 'id-ecPublicKey');
});

test('CERTCHAINFILE wins over CERTFILE and keeps leaf then intermediate', () => {
  const s = base({ certFile: f('server.pem'), certChainFile: f('chain.pem'), keyFile: f('chain-leaf.key') });
  const m = loadTlsMaterial(s, read);
  assert.equal(m.certChain.length, 2);
  assert.equal(m.serverCert.subject.oneline, '/C=DE/L=Potsdam/O=Chained Server/CN=localhost');
});

test('CERTCHAINFILE without KEYFILE: the key is looked for in the chain file, as in CERTFILE', () => {
  writeFileSync(f('chain-with-key.pem'), Buffer.concat([readFileSync(f('chain.pem')), readFileSync(f('chain-leaf.key'))]));
  const m = loadTlsMaterial(base({ certChainFile: f('chain-with-key.pem') }), read);
  assert.equal(m.certChain.length, 2);
  assert.equal(m.serverCert.subject.oneline, '/C=DE/L=Potsdam/O=Chained Server/CN=localhost');
  assertConfigError(() => loadTlsMaterial(base({ certChainFile: f('chain.pem') }), read), `unable to load key: ${f('chain.pem')}`);
});

test('no certificate configured is an error, never a server without one', () => {
  assertConfigError(() => loadTlsMaterial(base({}), read), 'unable to load certificate: ');
  assertConfigError(() => loadTlsMaterial(base({ keyFile: f('server.key') }), read), 'unable to load certificate: ');
});

const errors: Array<[string, () => TlsSettings, string, Buffer?]> = [
  ['a missing certificate', () => base({ certFile: f('nope.pem') }), 'unable to load certificate: PATH/nope.pem'],
  ['a certificate file without certificates', () => base({ certFile: f('junk.pem') }), 'unable to load certificate: PATH/junk.pem'],
  ['a missing chain file', () => base({ certChainFile: f('nope.pem'), keyFile: f('server.key') }), 'unable to load certificate chain file: PATH/nope.pem'],
  ['a chain file that is a key', () => base({ certChainFile: f('server.key'), keyFile: f('server.key') }), 'unable to load certificate chain file: PATH/server.key'],
  ['a missing key file', () => base({ certFile: f('server.pem'), keyFile: f('nope.key') }), 'unable to load key: PATH/nope.key'],
  ['no key in CERTFILE', () => base({ certFile: f('server.pem') }), 'unable to load key: PATH/server.pem'],
  ['an encrypted key without password', () => base({ certFile: f('server.pem'), keyFile: f('server-enc.key') }), 'unable to load key: PATH/server-enc.key'],
  ['a wrong password', () => base({ certFile: f('server.pem'), keyFile: f('server-enc.key') }), 'unable to load key: PATH/server-enc.key', Buffer.from('secret\n')],
  ['a key of another certificate', () => base({ certFile: f('server.pem'), keyFile: f('ec-server.key') }), 'unable to load key: PATH/ec-server.key'],
  ['a missing CAFILE (even with -Z)', () => base({ certFile: f('server-combined.pem'), caFile: f('nope.pem') }), 'unable to load CA list'],
  ['a CAFILE without certificates', () => base({ certFile: f('server-combined.pem'), caFile: f('junk.pem') }), 'unable to load CA list'],
  ['a missing CCAFILE', () => base({ certFile: f('server-combined.pem'), clientCert: 'verify', ccaFile: f('nope.pem') }), 'unable to load client CA list'],
  ['a missing DHFILE', () => base({ certFile: f('server-combined.pem'), dhFile: f('nope.pem') }), 'unable to set DH parameters'],
  ['a DHFILE of junk', () => base({ certFile: f('server-combined.pem'), dhFile: f('junk.pem') }), 'unable to set DH parameters'],
  ['a 1024-bit DH group', () => base({ certFile: f('server-combined.pem'), dhFile: f('dh1024.pem') }), 'unable to set DH parameters'],
  ['CIPHERS matching nothing', () => base({ certFile: f('server-combined.pem'), ciphers: 'NO-SUCH-CIPHER' }), 'unable to set cipher list'],
  ['an unknown TLS 1.3 suite', () => base({ certFile: f('server-combined.pem'), ciphers: 'TLS_NO_SUCH_SUITE' }), 'unable to set cipher list'],
];
for (const [what, settings, message, password] of errors) {
  test(`${what}: ${message.replace(/PATH\/\S+/, 'PATH')}`, () => {
    assertConfigError(() => load(settings(), password), message.replace('PATH', dir));
  });
}

test('CIPHERS takes TLS 1.2 lists, TLS 1.3 suites, and both', () => {
  for (const ciphers of ['ECDHE-RSA-AES128-GCM-SHA256', 'TLS_AES_128_GCM_SHA256', 'ECDHE-RSA-AES256-GCM-SHA384:TLS_CHACHA20_POLY1305_SHA256', 'HIGH:!aNULL']) {
    load(base({ certFile: f('server-combined.pem'), ciphers }));
  }
});

test('both DH file forms of 2048 bits load', () => {
  for (const dh of ['dh2048.pem', 'dh2048-x942.pem']) load(base({ certFile: f('server-combined.pem'), dhFile: f(dh) }));
});

test('client certificates: CAFILE and hashed CADIR entries are the trusted anchors; CCAFILE is not', () => {
  const cadir = f('cadir');
  mkdirSync(cadir);
  const hash = execFileSync('openssl', ['x509', '-in', f('other-ca.pem'), '-noout', '-subject_hash'], { encoding: 'latin1' }).trim();
  copyFileSync(f('other-ca.pem'), join(cadir, `${hash}.0`));
  copyFileSync(f('inter.pem'), join(cadir, 'inter.pem')); // not a hash name: ignored, as OpenSSL does
  const s = base({ certFile: f('server-combined.pem'), clientCert: 'verify', caFile: f('ca.pem'), caDir: cadir, ccaFile: f('inter.pem') });
  const m = loadTlsMaterial(s, read);
  assert.equal(m.trustedCas.length, 2);
  assert.equal(m.clientCas.length, 1);
  const config = createServerContext(m, s);
  assert.equal(config.requestCert, true);
  assert.equal(config.trustedFingerprints.size, 2);
  // A CADIR that does not exist is no error (OpenSSL looks it up lazily).
  loadTlsMaterial({ ...s, caDir: f('no-such-dir') }, read);
});

test('files are read only through the given reader', () => {
  const seen: string[] = [];
  const s = base({ certFile: f('server.pem'), keyFile: f('server.key'), dhFile: f('dh2048.pem'), caFile: f('ca.pem') });
  loadTlsMaterial(s, (p) => { seen.push(p); return readFileSync(p); });
  assert.deepEqual(seen, [f('server.pem'), f('server.key'), f('ca.pem'), f('dh2048.pem')]);
});
