import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveBindAddress, resolvePort } from './address';
import { ConfigError } from '../errors';

test('resolveBindAddress maps the ucspi host forms', async () => {
  const cases: Array<[string, 0 | 4 | 6, { address: string; family: number; v6only: boolean }]> = [
    ['0', 0, { address: '0.0.0.0', family: 4, v6only: false }],
    ['::', 0, { address: '::', family: 6, v6only: false }],
    [':0', 0, { address: '::', family: 6, v6only: false }],
    ['127.0.0.5', 0, { address: '127.0.0.5', family: 4, v6only: false }],
    ['::1', 0, { address: '::1', family: 6, v6only: true }],
    ['localhost', 4, { address: '127.0.0.1', family: 4, v6only: false }],
  ];
  for (const [host, fam, want] of cases) assert.deepEqual(await resolveBindAddress(host, fam), want, host);
});

test('resolveBindAddress says no IP address for an unknown name', async () => {
  await assert.rejects(resolveBindAddress('no-such-host.invalid', 0), (e: unknown) => e instanceof ConfigError && /^(no IP address|temporarily unable to figure out IP address) for: no-such-host.invalid$/.test(e.message));
});

test('resolvePort takes numbers and /etc/services names and rejects the rest', () => {
  const dir = mkdtempSync(join(tmpdir(), 'svc-'));
  try {
    const f = join(dir, 'services');
    writeFileSync(f, 'smtps\t465/tcp\tssmtp submissions # comment\nfoo 99/udp\n');
    assert.equal(resolvePort('0', f), 0);
    assert.equal(resolvePort('4433', f), 4433);
    assert.equal(resolvePort('ssmtp', f), 465);
    assert.throws(() => resolvePort('foo', f), /unable to figure out port number for: foo/);
    assert.throws(() => resolvePort('70000', f), /unable to figure out port number for: 70000/);
  } finally {
    rmSync(dir, { recursive: true });
  }
});
