import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../errors';
import { eventLoopCount, MAX_LOOPS } from './event-loops';

test('eventLoopCount: one per core but one by default, SSLSERVER_WORKERS when set, junk refused', () => {
  assert.equal(eventLoopCount({}, 1), 1);
  assert.equal(eventLoopCount({}, 2), 1);
  assert.equal(eventLoopCount({}, 4), 3);
  assert.equal(eventLoopCount({ SSLSERVER_WORKERS: '' }, 8), 7);
  assert.equal(eventLoopCount({}, 500), MAX_LOOPS);
  assert.equal(eventLoopCount({ SSLSERVER_WORKERS: '1' }, 8), 1);
  assert.equal(eventLoopCount({ SSLSERVER_WORKERS: '3' }, 2), 3);
  assert.equal(eventLoopCount({}, 8, 10), 1, 'a tight fd limit: one loop');
  assert.equal(eventLoopCount({}, 8, 200), 3);
  assert.equal(eventLoopCount({}, 8, 1e6), 7);
  assert.equal(eventLoopCount({ SSLSERVER_WORKERS: '4' }, 8, 10), 4, 'asked for is asked for');
  for (const bad of ['0', '65', 'x', '1.5', ' 2', '-1']) {
    assert.throws(() => eventLoopCount({ SSLSERVER_WORKERS: bad }, 2), (e: unknown) => e instanceof ConfigError && e.kind === 'fatal', bad);
  }
});
