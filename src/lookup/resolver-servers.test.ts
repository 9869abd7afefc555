// resolverServersFromEnv: DNSCACHEIP, resolv.conf, the local default.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolverServersFromEnv } from './resolver-servers';

describe('resolverServersFromEnv()', () => {
  const dir = mkdtempSync(join(tmpdir(), 'resolvers-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const conf = join(dir, 'resolv.conf');
  writeFileSync(conf, '# comment\nsearch example\nnameserver 10.1.2.3\n  nameserver ::1 \nnameserver fe80::1%eth0\nnameserver bogus\noptions ndots:2\n');

  const cases: Array<[string, Record<string, string | undefined>, string, string[]]> = [
    ['DNSCACHEIP wins, space or comma separated, IPv4 and IPv6', { DNSCACHEIP: '127.0.0.53 ::1,10.0.0.1' }, conf, ['127.0.0.53', '::1', '10.0.0.1']],
    ['DNSCACHEIP without an address falls back to resolv.conf', { DNSCACHEIP: 'nothing' }, conf, ['10.1.2.3', '::1']],
    ['resolv.conf nameserver lines, zone suffixes and junk skipped', {}, conf, ['10.1.2.3', '::1']],
    ['no resolv.conf: 127.0.0.1, as djb', {}, join(dir, 'missing'), ['127.0.0.1']],
  ];
  for (const [what, env, file, want] of cases) it(what, () => assert.deepEqual(resolverServersFromEnv(env, file), want));
});
