import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HandshakeTable, type EvictionCause } from './handshake-table';

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
