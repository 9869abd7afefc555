// Tests for the pure parts of the SSL_* block: session id from DER, cipher key sizes, library text, order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DerFormatError } from './der';
import { certEnv, cipherKeyBits, opensslVersionText, sessionIdFromDer } from './ssl-env';
import type { ParsedCert } from './x509-fields';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

test('reads the session id of an SSL_SESSION blob', () => {
  // version 1, TLS 1.3 (0x0304), cipher 13 02, a 4-byte id, then a master key.
  const der = hex('3013 020101 02020304 04021302 0404deadbeef 0403010203');
  assert.equal(sessionIdFromDer(der).toString('hex'), 'deadbeef');
  assert.equal(sessionIdFromDer(hex('300d 020101 02020303 0402c02f 0400 0400')).length, 0);
});

test('a malformed SSL_SESSION blob throws DerFormatError', () => {
  for (const bad of ['', '3013 020101', '3005 020101 0400', '300b 020101 02020304 0402130204', '3004 04020304']) {
    assert.throws(() => sessionIdFromDer(hex(bad)), DerFormatError, bad);
  }
  const long = Buffer.concat([hex('302e 020101 02020304 04021302 0421'), Buffer.alloc(33)]);
  assert.throws(() => sessionIdFromDer(long), /33 bytes/);
});

test('cipher key sizes follow SSL_CIPHER_get_bits', () => {
  const table: Array<[string, number, number]> = [
    ['TLS_AES_256_GCM_SHA384', 256, 256],
    ['TLS_AES_128_GCM_SHA256', 128, 128],
    ['TLS_AES_128_CCM_8_SHA256', 128, 128],
    ['TLS_CHACHA20_POLY1305_SHA256', 256, 256],
    ['ECDHE-RSA-AES128-GCM-SHA256', 128, 128],
    ['ECDHE-ECDSA-AES256-SHA384', 256, 256],
    ['AES128-SHA', 128, 128],
    ['DHE-RSA-CAMELLIA256-SHA', 256, 256],
    ['ECDHE-ARIA128-GCM-SHA256', 128, 128],
    ['DES-CBC3-SHA', 112, 168],
    ['NULL-SHA256', 0, 0],
  ];
  for (const [name, use, alg] of table) assert.deepEqual(cipherKeyBits(name), [use, alg], name);
});

test('SSL_VERSION_LIBRARY reads like OPENSSL_VERSION_TEXT', () => {
  assert.equal(opensslVersionText('3.0.19'), 'OpenSSL 3.0.19 27 Jan 2026');
  assert.equal(opensslVersionText('9.9.9'), 'OpenSSL 9.9.9');
  assert.match(opensslVersionText(), /^OpenSSL \d+\.\d+\.\d+/);
});

test('certificate variables come in ssl_env.c order, only present DN components', () => {
  const dn = (pairs: Array<[string, string]>, oneline: string) => ({
    oneline,
    entries: pairs.map(([oid, value], set) => ({ oid, shortName: oid, raw: Buffer.from(value), value, set })),
  });
  const cert: ParsedCert = {
    version: 3, serial: '4660',
    // Certificate order CN, C, OU, OU: the variables still come in C ... CN order, last OU wins.
    subject: dn([['2.5.4.3', 'x'], ['2.5.4.6', 'DE'], ['2.5.4.11', 'a'], ['2.5.4.11', 'b']], '/CN=x/C=DE/OU=a/OU=b'),
    issuer: dn([['1.2.840.113549.1.9.1', 'ca@example.test']], '/emailAddress=ca@example.test'),
    notBefore: 'Jan  1 00:00:00 2026 GMT', notAfter: 'Jan  1 00:00:00 2036 GMT',
    signatureAlgorithm: 'sha256WithRSAEncryption', keyAlgorithm: 'rsaEncryption', pem: 'PEM\n', der: Buffer.alloc(0),
  };
  assert.deepEqual(certEnv('SSL_CLIENT_', cert), [
    ['SSL_CLIENT_M_VERSION', '3'], ['SSL_CLIENT_M_SERIAL', '4660'],
    ['SSL_CLIENT_S_DN', '/CN=x/C=DE/OU=a/OU=b'], ['SSL_CLIENT_S_DN_C', 'DE'], ['SSL_CLIENT_S_DN_OU', 'b'], ['SSL_CLIENT_S_DN_CN', 'x'],
    ['SSL_CLIENT_I_DN', '/emailAddress=ca@example.test'], ['SSL_CLIENT_I_DN_Email', 'ca@example.test'],
    ['SSL_CLIENT_A_SIG', 'sha256WithRSAEncryption'], ['SSL_CLIENT_A_KEY', 'rsaEncryption'],
    ['SSL_CLIENT_V_START', 'Jan  1 00:00:00 2026 GMT'], ['SSL_CLIENT_V_END', 'Jan  1 00:00:00 2036 GMT'],
    ['SSL_CLIENT_CERT', 'PEM\n'],
  ]);
});
