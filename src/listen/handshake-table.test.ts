import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HandshakeTable, type EvictionCause } from './handshake-table';
import { SharedConnectionLimits } from './shared-limits';

test('HandshakeTable: a full table evicts its oldest entry for the newcomer', () => {
  const t = new HandshakeTable(3, 3);
  const evicted: string[] = [];
  const on = (name: string) => (cause: EvictionCause): void => void evicted.push(`${name}:${cause}`);
  t.admit('10.0.0.1', on('a'));
  t.admit('10.0.0.2', on('b'));
  t.admit('10.0.0.3', on('c'));
  assert.deepEqual(evicted, []);
  t.admit('10.0.0.4', on('d'));
  assert.deepEqual(evicted, ['a:table']);
  assert.equal(t.size, 3);
  assert.equal(t.countFor('10.0.0.1'), 0);
});

test('HandshakeTable: an IP at its bound evicts its own oldest entry, not another IP\'s', () => {
  const t = new HandshakeTable(10, 2);
  const evicted: string[] = [];
  t.admit('10.0.0.9', () => evicted.push('other'));
  t.admit('10.0.0.1', (c) => evicted.push(`first:${c}`));
  t.admit('10.0.0.1', () => evicted.push('second'));
  t.admit('10.0.0.1', () => evicted.push('third'));
  assert.deepEqual(evicted, ['first:ip']);
  assert.equal(t.countFor('10.0.0.1'), 2);
  assert.equal(t.size, 3);
});

test('HandshakeTable: release is idempotent and a released entry is never evicted', () => {
  const t = new HandshakeTable(1, 1);
  let evicted = 0;
  const a = t.admit('a', () => evicted++);
  a.release();
  a.release();
  assert.equal(t.size, 0);
  t.admit('b', () => evicted++);
  assert.equal(evicted, 0);
  assert.equal(t.evictOldest(), true);
  assert.equal(evicted, 1);
  assert.equal(t.evictOldest(), false);
});

test('HandshakeTable: with shared per-IP counts, MAXHANDSHAKESIP holds over loops (passed by at most loops - 1)', () => {
  const counts = new SharedConnectionLimits(SharedConnectionLimits.allocate(1024), 40, 0);
  const a = new HandshakeTable(100, 2, 2, counts);
  const b = new HandshakeTable(100, 2, 2, counts);
  const evicted: string[] = [];
  const ev = (name: string) => (cause: EvictionCause): void => void evicted.push(`${name}:${cause}`);
  a.admit('10.0.0.1', ev('a1'));
  a.admit('10.0.0.1', ev('a2'));
  assert.equal(counts.countFor('10.0.0.1'), 2);
  // b holds none of the address's entries: it admits one (2 + 1 = the bound passed by loops - 1)
  const b1 = b.admit('10.0.0.1', ev('b1'));
  assert.deepEqual(evicted, []);
  assert.equal(counts.countFor('10.0.0.1'), 3);
  // at the bound, each loop pushes out its own oldest
  b.admit('10.0.0.1', ev('b2'));
  a.admit('10.0.0.1', ev('a3'));
  assert.deepEqual(evicted, ['b1:ip', 'a1:ip']);
  assert.equal(counts.countFor('10.0.0.1'), 3);
  b1.release(); // already evicted: nothing more is released
  assert.equal(counts.countFor('10.0.0.1'), 3);
  assert.equal(b.capacity, 50, 'the table itself is split between the two loops');
  // another address is not touched
  b.admit('10.0.0.2', ev('x'));
  assert.equal(counts.countFor('10.0.0.2'), 1);
});
