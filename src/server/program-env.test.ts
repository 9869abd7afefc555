import { test } from 'node:test';
import assert from 'node:assert/strict';
import { programIdentity } from './program-env';
import type { ServerConfig } from './config';

test('programIdentity follows prot_gid/prot_uid: -g gives just that group, -u alone drops the groups', () => {
  const cases: Array<[Partial<ServerConfig>, ReturnType<typeof programIdentity>]> = [
    [{}, {}],
    [{ uid: 1002 }, { uid: 1002, groups: [] }],
    [{ gid: 1002 }, { gid: 1002, groups: [1002] }],
    [{ uid: 1002, gid: 100 }, { uid: 1002, gid: 100, groups: [100] }],
  ];
  for (const [cfg, want] of cases) assert.deepEqual(programIdentity(cfg as ServerConfig), want, JSON.stringify(cfg));
});
