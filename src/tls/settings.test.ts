// Tests for tlsSettingsFromEnv: empty means unset, CCAFILE "-", defaults.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_CADIR, tlsSettingsFromEnv } from './settings';

test('an empty environment gives the defaults and no files', () => {
  assert.deepEqual(tlsSettingsFromEnv({}, 'none'), { verifyDepth: 1, clientCert: 'none', caDir: DEFAULT_CADIR });
});

test('every variable is read; empty strings count as unset', () => {
  const env = {
    CERTFILE: '/c.pem', KEYFILE: '/k.pem', CERTCHAINFILE: '/chain.pem', DHFILE: '/dh.pem',
    CIPHERS: 'TLS_AES_128_GCM_SHA256', CAFILE: '/ca.pem', CADIR: '/cadir', CCAFILE: '/cca.pem', VERIFYDEPTH: '3',
  };
  assert.deepEqual(tlsSettingsFromEnv(env, 'verify'), {
    certFile: '/c.pem', keyFile: '/k.pem', certChainFile: '/chain.pem', dhFile: '/dh.pem',
    ciphers: 'TLS_AES_128_GCM_SHA256', caFile: '/ca.pem', caDir: '/cadir', ccaFile: '/cca.pem',
    verifyDepth: 3, clientCert: 'verify',
  });
  const empty = Object.fromEntries(Object.keys(env).map((k) => [k, '']));
  // VERIFYDEPTH= is scan_ulong of "" (0), CADIR= is "no directory".
  assert.deepEqual(tlsSettingsFromEnv(empty, 'verify-host'), { verifyDepth: 0, clientCert: 'verify-host' });
});

test('CCAFILE "-" turns client certificates off, and -Z drops CCAFILE', () => {
  const s = tlsSettingsFromEnv({ CCAFILE: '-' }, 'verify-host');
  assert.equal(s.clientCert, 'none');
  assert.equal(s.ccaFile, undefined);
  assert.equal(tlsSettingsFromEnv({ CCAFILE: '/cca.pem' }, 'none').ccaFile, undefined);
});

test('DHFILE unset means no DH file (not the reference compiled default)', () => {
  assert.equal(tlsSettingsFromEnv({}, 'none').dhFile, undefined);
});

test('VERIFYDEPTH is read like scan_ulong', () => {
  for (const [text, depth] of [['2', 2], ['5x', 5], ['x', 0], [' 4', 0], ['0', 0]] as const) {
    assert.equal(tlsSettingsFromEnv({ VERIFYDEPTH: text }, 'verify').verifyDepth, depth, text);
  }
});
