import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveBindAddress, resolvePort, type BindAddress } from './address';
import { ConfigError } from '../errors';
import { startDnsServer, TYPE_A, TYPE_AAAA, type DnsBehaviour, type TestDnsServer } from '../../test/fixtures/dns-server';

/** The resolver the names below are asked of (as DNSCACHEIP would name it). */
const RESOLVER = '127.0.8.53';
const ZONE: Record<string, DnsBehaviour> = {
  'both.test.example': [{ type: TYPE_A, data: '127.0.0.21' }, { type: TYPE_AAAA, data: '::1' }],
  'four.test.example': [{ type: TYPE_A, data: '127.0.0.22' }],
  'six.test.example': [{ type: TYPE_AAAA, data: '::1' }],
  'silent.test.example': 'silent',
};
let dns: TestDnsServer;
before(async () => {
  dns = await startDnsServer(RESOLVER, (name) => ZONE[name]);
});
after(() => dns.close());

/** A host argument, the -4/-6 family, and what it binds. */
type BindCase = [host: string, family: 0 | 4 | 6, want: BindAddress];

test('resolveBindAddress maps the ucspi host forms', async () => {
  const cases: BindCase[] = [
    ['0', 0, { address: '0.0.0.0', family: 4, v6only: false }],
    ['::', 0, { address: '::', family: 6, v6only: false }],
    [':0', 0, { address: '::', family: 6, v6only: false }],
    ['127.0.0.5', 0, { address: '127.0.0.5', family: 4, v6only: false }],
    ['::1', 0, { address: '::1', family: 6, v6only: true }],
  ];
  for (const [host, fam, want] of cases) assert.deepEqual(await resolveBindAddress(host, fam, [RESOLVER]), want, host);
  assert.equal(dns.queries.length, 0, 'no query for the literal forms');
});

test('resolveBindAddress asks DNS as the reference: AAAA then A, -4/-6 one of them', async () => {
  const cases: BindCase[] = [
    ['both.test.example', 0, { address: '::1', family: 6, v6only: true }],
    ['both.test.example', 4, { address: '127.0.0.21', family: 4, v6only: false }],
    ['both.test.example', 6, { address: '::1', family: 6, v6only: true }],
    ['four.test.example', 0, { address: '127.0.0.22', family: 4, v6only: false }],
    ['six.test.example', 0, { address: '::1', family: 6, v6only: true }],
  ];
  for (const [host, fam, want] of cases) assert.deepEqual(await resolveBindAddress(host, fam, [RESOLVER]), want, `${host} -${fam}`);
  assert.ok(dns.queries.some((q) => q.name === 'four.test.example' && q.type === TYPE_AAAA), 'AAAA asked first');
});

test('resolveBindAddress: no such name or record is "no IP address"; /etc/hosts is not read', async () => {
  const noAddress = (name: string) => (e: unknown): boolean => e instanceof ConfigError && e.message === `no IP address for: ${name}`;
  await assert.rejects(resolveBindAddress('no-such-host.test.example', 0, [RESOLVER]), noAddress('no-such-host.test.example'));
  await assert.rejects(resolveBindAddress('six.test.example', 4, [RESOLVER]), noAddress('six.test.example'));
  // localhost is in /etc/hosts, not in this resolver's zone
  await assert.rejects(resolveBindAddress('localhost', 0, [RESOLVER]), noAddress('localhost'));
  assert.ok(dns.queries.some((q) => q.name === 'localhost'));
});

test('resolveBindAddress: a resolver that does not answer is a temporary failure', async () => {
  await assert.rejects(
    resolveBindAddress('silent.test.example', 0, [RESOLVER]),
    (e: unknown) => e instanceof ConfigError && e.message === 'temporarily unable to figure out IP address for: silent.test.example' && e.kind === 'fatal',
  );
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
