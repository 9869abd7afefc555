import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConnectionLimits } from './limits';

test('ConnectionLimits refuses an IP at MAXCONIP and still admits another IP', () => {
  const l = new ConnectionLimits(10, 2);
  assert.equal(l.tryAcquire('10.0.0.1'), true);
  assert.equal(l.tryAcquire('10.0.0.1'), true);
  assert.equal(l.tryAcquire('10.0.0.1'), false);
  assert.equal(l.tryAcquire('10.0.0.2'), true);
  assert.equal(l.total, 3);
  assert.equal(l.countFor('10.0.0.1'), 2);
});

test('ConnectionLimits releases the count of the IP that ended, not the last accepted one', () => {
  const l = new ConnectionLimits(10, 1);
  assert.equal(l.tryAcquire('10.0.0.1'), true);
  assert.equal(l.tryAcquire('10.0.0.2'), true);
  l.release('10.0.0.2');
  // the reference would now admit a second connection from the busy 10.0.0.1
  assert.equal(l.tryAcquire('10.0.0.1'), false);
  l.release('10.0.0.1');
  assert.equal(l.tryAcquire('10.0.0.1'), true);
  assert.equal(l.total, 1);
});

test('ConnectionLimits counts connections, not programs: -c is ProgramSlots', () => {
  const l = new ConnectionLimits(2, 0);
  l.tryAcquire('a');
  l.tryAcquire('b');
  assert.equal(l.tryAcquire('c'), true, 'past -c connections are still counted, not refused');
  assert.equal(l.total, 3);
  l.release('a');
  assert.equal(l.total, 2);
  assert.equal(l.countFor('a'), 0);
});
