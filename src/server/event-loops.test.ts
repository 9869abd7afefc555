import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../errors';
import { eventLoopCount, MAX_LOOPS } from './event-loops';

test('eventLoopCount: one per core by default, SSLSERVER_WORKERS when set, junk refused', () => {
  assert.equal(eventLoopCount({}, 2), 2);
  assert.equal(eventLoopCount({ SSLSERVER_WORKERS: '' }, 8), 8);
  assert.equal(eventLoopCount({}, 500), MAX_LOOPS);
  assert.equal(eventLoopCount({ SSLSERVER_WORKERS: '1' }, 8), 1);
  assert.equal(eventLoopCount({ SSLSERVER_WORKERS: '3' }, 2), 3);
  for (const bad of ['0', '65', 'x', '1.5', ' 2', '-1']) {
    assert.throws(() => eventLoopCount({ SSLSERVER_WORKERS: bad }, 2), (e: unknown) => e instanceof ConfigError && e.kind === 'fatal', bad);
  }
});
