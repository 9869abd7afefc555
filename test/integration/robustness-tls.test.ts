// TLS defaults a scanner grades well: testssl.sh offline on loopback, and the FORWARDSECRECY switch.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TCPRULES, serverTmpDir, startServer, tlsExchange } from './harness';
import { DEFAULT_CIPHERS, cipherString } from '../../src/tls/context';

const TESTSSL = '/usr/bin/testssl';
const TESTSSL_TIMEOUT_MS = 240_000;

/** A self-signed P-256 certificate a scanner has nothing to say about but its trust: 90 days, SAN, a CRL URI. */
function scannerCert(dir: string): { cert: string; key: string } {
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '90',
    '-subj', '/CN=localhost', '-keyout', key, '-out', cert,
    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
    '-addext', 'crlDistributionPoints=URI:http://127.0.0.1/crl.pem',
    '-addext', 'keyUsage=critical,digitalSignature',
    '-addext', 'extendedKeyUsage=serverAuth',
  ], { stdio: 'ignore' });
  return { cert, key };
}

test('testssl.sh (offline, loopback): no HIGH or CRITICAL finding but the self-signed certificate\'s trust', { timeout: TESTSSL_TIMEOUT_MS + 30_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'testssl-'));
  const { cert, key } = scannerCert(dir);
  const s = await startServer(['-H', '-R', '127.0.0.1', '0', '/bin/echo', 'hello'], { env: { CERTFILE: cert, KEYFILE: key } });
  try {
    const json = join(dir, 'result.json');
    // --nodns none and no --phone-out: nothing leaves the machine; --warnings off: no prompts
    const args = ['--quiet', '--nodns', 'none', '--warnings', 'off', '--openssl', '/usr/bin/openssl', '--color', '0', '--ip', '127.0.0.1', '--connect-timeout', '5', '--openssl-timeout', '5', '--jsonfile', json, `127.0.0.1:${s.port}`];
    t.diagnostic(`command: testssl ${args.join(' ').replace(json, 'RESULT.json')}`);
    const code = await new Promise<number | null>((res) => {
      const p = spawn(TESTSSL, args, { stdio: 'ignore', cwd: dir });
      const timer = setTimeout(() => p.kill('SIGKILL'), TESTSSL_TIMEOUT_MS);
      p.on('exit', (c) => {
        clearTimeout(timer);
        res(c);
      });
    });
    const findings = JSON.parse(readFileSync(json, 'utf8')) as Array<{ id: string; severity: string; finding: string }>;
    const count = new Map<string, number>();
    for (const f of findings) count.set(f.severity, (count.get(f.severity) ?? 0) + 1);
    t.diagnostic(`testssl exit ${code}; findings by severity: ${[...count].map(([k, v]) => `${k} ${v}`).join(', ')}`);
    for (const id of ['SSLv2', 'SSLv3', 'TLS1', 'TLS1_1', 'TLS1_2', 'TLS1_3', 'cipher_order', 'FS', 'secure_renego', 'secure_client_renego', 'cert_chain_of_trust', 'overall_grade']) {
      const f = findings.find((x) => x.id === id);
      if (f !== undefined) t.diagnostic(`${id}: ${f.severity} ${f.finding}`);
    }
    for (const f of findings.filter((x) => !['OK', 'INFO', 'DEBUG'].includes(x.severity))) t.diagnostic(`${f.severity} ${f.id}: ${f.finding}`);
    const bad = findings.filter((f) => (f.severity === 'HIGH' || f.severity === 'CRITICAL') && f.id !== 'cert_chain_of_trust');
    assert.deepEqual(bad, []);
    const get = (id: string): string | undefined => findings.find((f) => f.id === id)?.finding;
    assert.match(get('TLS1') ?? '', /not offered/);
    assert.match(get('TLS1_1') ?? '', /not offered/);
    assert.match(get('TLS1_2') ?? '', /^offered/);
    assert.match(get('TLS1_3') ?? '', /^offered/);
    assert.match(get('secure_client_renego') ?? '', /not vulnerable/);
  } finally {
    await s.stop();
    rmSync(dir, { recursive: true });
  }
});

test('the default cipher list has only forward-secret TLS 1.2 suites, AEAD first', () => {
  const suites = execFileSync('openssl', ['ciphers', '-v', DEFAULT_CIPHERS.split(':').filter((c) => !c.startsWith('TLS_')).join(':')], { encoding: 'utf8' })
    .trim()
    .split('\n')
    .map((l) => l.split(/\s+/))
    // openssl lists the TLS 1.3 suites whatever the list says (they are all forward secret)
    .filter(([name]) => !(name ?? '').startsWith('TLS_'));
  assert.ok(suites.length > 0);
  for (const [name, , kx] of suites) assert.match(kx ?? '', /^Kx=(ECDH|DH)$/, `${name} is forward secret`);
  const firstCbc = suites.findIndex(([name]) => !/GCM|CHACHA20/.test(name ?? ''));
  assert.ok(suites.slice(firstCbc).every(([name]) => !/GCM|CHACHA20/.test(name ?? '')), 'AEAD suites before CBC ones');
});

test('FORWARDSECRECY: a rule CIPHERS with RSA key transport is cut to its forward-secret suites', async () => {
  assert.equal(cipherString('TLS_AES_128_GCM_SHA256', { forwardSecrecyOnly: true }), 'TLS_AES_128_GCM_SHA256');
  assert.equal(cipherString(undefined), DEFAULT_CIPHERS);
  const dir = serverTmpDir('fs-');
  try {
    const cdb = join(dir, 'r.cdb');
    execFileSync(process.execPath, [TCPRULES, cdb, `${cdb}.tmp`], { input: '127.0.0.1:allow,CIPHERS="AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256"\n' });
    const rsaOnly = { maxVersion: 'TLSv1.2', ciphers: 'AES128-GCM-SHA256' } as const;
    const ecdhe = { maxVersion: 'TLSv1.2', ciphers: 'ECDHE-RSA-AES128-GCM-SHA256' } as const;
    const plain = await startServer(['-x', cdb, '-H', '-R', '127.0.0.1', '0', '/bin/echo', 'ok']);
    try {
      assert.equal((await tlsExchange(plain.port, '', rsaOnly)).data.toString(), 'ok\n', 'without the switch CIPHERS is taken as it is');
    } finally {
      await plain.stop();
    }
    const strict = await startServer(['-x', cdb, '-H', '-R', '127.0.0.1', '0', '/bin/echo', 'ok'], { env: { FORWARDSECRECY: '1' } });
    try {
      await assert.rejects(tlsExchange(strict.port, '', rsaOnly), /handshake failure|no shared cipher|SSL/i);
      assert.equal((await tlsExchange(strict.port, '', ecdhe)).data.toString(), 'ok\n');
      assert.equal((await tlsExchange(strict.port, '')).data.toString(), 'ok\n', 'TLS 1.3 unaffected');
    } finally {
      await strict.stop();
    }
  } finally {
    rmSync(dir, { recursive: true });
  }
});

