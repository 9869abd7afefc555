// Tests for parseCertificate against `openssl x509` on the generated test certificates.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DerFormatError } from './der';
import { parseCertificate } from './x509-fields';

const ROOT = resolve(__dirname, '../../..');
let dir = '';

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'x509-fields-'));
  execFileSync(join(ROOT, 'scripts/gen-test-certs.sh'), [dir]);
  // A certificate OpenSSL's "default" string mask encodes as T61String and BMPString, valid
  // past 2049 (GeneralizedTime notAfter), version 1 (no extensions), with a serial of 0x80.
  writeFileSync(join(dir, 'mask.cnf'), '[req]\ndistinguished_name=dn\nstring_mask=default\nprompt=no\n[dn]\nO=J\u00f6rg\nCN=\u0141\u00f3d\u017a\n');
  execFileSync('openssl', ['req', '-x509', '-new', '-utf8', '-config', join(dir, 'mask.cnf'), '-key', join(dir, 'ca.key'),
    '-days', '15000', '-set_serial', '128', '-sha384', '-out', join(dir, 'bmp.pem')]);
});
after(() => rmSync(dir, { recursive: true, force: true }));

const openssl = (args: string[]): string => execFileSync('openssl', args, { encoding: 'latin1' });
const field = (text: string, name: string): string => {
  const m = new RegExp(`^${name}=(.*)$`, 'm').exec(text);
  assert.ok(m, `${name} in ${text}`);
  return m[1] as string;
};

const CERTS = ['ca', 'other-ca', 'server', 'ec-server', 'inter', 'chain-leaf', 'client-san', 'client-cn', 'client-other', 'client-odd', 'bmp'];

for (const name of CERTS) {
  test(`${name}.pem: fields equal openssl x509's`, () => {
    const file = join(dir, `${name}.pem`);
    const pem = readFileSync(file, 'latin1');
    const cert = parseCertificate(new X509Certificate(pem).raw);
    const info = openssl(['x509', '-in', file, '-noout', '-nameopt', 'compat', '-subject', '-issuer', '-serial', '-startdate', '-enddate']);
    assert.equal(cert.subject.oneline, field(info, 'subject'));
    assert.equal(cert.issuer.oneline, field(info, 'issuer'));
    assert.equal(BigInt(cert.serial), BigInt(`0x${field(info, 'serial')}`));
    assert.equal(cert.notBefore, field(info, 'notBefore'));
    assert.equal(cert.notAfter, field(info, 'notAfter'));
    const text = openssl(['x509', '-in', file, '-noout', '-text']);
    assert.equal(cert.signatureAlgorithm, /Signature Algorithm: (\S+)/.exec(text)?.[1]);
    assert.equal(cert.keyAlgorithm, /Public Key Algorithm: (\S+)/.exec(text)?.[1]);
    assert.equal(String(cert.version), /Version: (\d+)/.exec(text)?.[1]);
    assert.equal(cert.pem, openssl(['x509', '-in', file]));
  });
}

test('the SPEC example certificate', () => {
  const cert = parseCertificate(new X509Certificate(readFileSync(join(dir, 'server.pem'))).raw);
  assert.equal(cert.serial, '4660');
  assert.equal(cert.version, 3);
  assert.equal(cert.subject.oneline, '/C=DE/ST=Berlin/O=Acceptance Server/CN=localhost');
  assert.equal(cert.signatureAlgorithm, 'sha256WithRSAEncryption');
  assert.equal(cert.keyAlgorithm, 'rsaEncryption');
  assert.match(cert.notBefore, /^[A-Z][a-z]{2} [ 1-3]\d \d\d:\d\d:\d\d \d{4} GMT$/);
});

test('EC keys and an EC issuer give id-ecPublicKey and ecdsa-with-SHA256', () => {
  const ec = parseCertificate(new X509Certificate(readFileSync(join(dir, 'ec-server.pem'))).raw);
  assert.equal(ec.keyAlgorithm, 'id-ecPublicKey');
  const leaf = parseCertificate(new X509Certificate(readFileSync(join(dir, 'chain-leaf.pem'))).raw);
  assert.equal(leaf.signatureAlgorithm, 'ecdsa-with-SHA256');
  assert.equal(leaf.serial, '123456789012345678901234567890');
});

test('DN entries keep order, multi-valued RDNs, and decoded values', () => {
  const odd = parseCertificate(new X509Certificate(readFileSync(join(dir, 'client-odd.pem'))).raw);
  const ous = odd.subject.entries.filter((e) => e.shortName === 'OU');
  assert.deepEqual(ous.map((e) => e.value), ['Unit A', 'Unit B']);
  assert.equal(ous[0]?.set, ous[1]?.set);
  assert.equal(odd.subject.entries.find((e) => e.shortName === 'CN')?.value, 'J\u00f6rg M\u00fcller');
  assert.equal(odd.subject.entries.find((e) => e.shortName === 'O')?.value, 'Slash/Corp');
  const bmp = parseCertificate(new X509Certificate(readFileSync(join(dir, 'bmp.pem'))).raw);
  assert.equal(bmp.subject.entries.find((e) => e.shortName === 'CN')?.value, '\u0141\u00f3d\u017a');
  assert.equal(bmp.subject.entries.find((e) => e.shortName === 'O')?.value, 'J\u00f6rg');
  assert.match(bmp.subject.oneline, /CN=\\x01A\\x00\\xF3/);
  assert.match(bmp.notAfter, / 20[5-9]\d GMT$/);
  assert.equal(bmp.version, 1);
});

test('truncated or padded certificates throw DerFormatError', () => {
  const der = new X509Certificate(readFileSync(join(dir, 'server.pem'))).raw;
  for (const cut of [1, 2, 10, 100, der.length - 1]) {
    assert.throws(() => parseCertificate(der.subarray(0, cut)), DerFormatError, `cut at ${cut}`);
  }
  assert.throws(() => parseCertificate(Buffer.concat([der, Buffer.from([0])])), /trailing/);
  assert.throws(() => parseCertificate(Buffer.from('3003020101', 'hex')), DerFormatError);
});
