import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { SharedConnectionLimits, tableEntriesFor, MIN_ENTRIES, MAX_ENTRIES } from './shared-limits';

test('SharedConnectionLimits: per-IP counts and MAXCONIP, IPv4 and IPv6, released by the IP counted', () => {
  const mem = SharedConnectionLimits.allocate(1024);
  const a = new SharedConnectionLimits(mem, 40, 2);
  const b = new SharedConnectionLimits(mem, 40, 2);
  assert.equal(a.tryAcquire('10.0.0.1'), true);
  assert.equal(b.tryAcquire('10.0.0.1'), true);
  assert.equal(a.tryAcquire('10.0.0.1'), false, 'the third from one IP, whichever loop, is over MAXCONIP 2');
  assert.equal(b.tryAcquire('2001:db8::1'), true);
  assert.equal(a.countFor('10.0.0.1'), 2);
  assert.equal(b.countFor('2001:db8::1'), 1);
  assert.equal(a.countFor('::ffff:10.0.0.1'), 2, 'the mapped form is the same address');
  assert.equal(a.total, 1, 'total is the loop\'s own');
  assert.equal(b.total, 2);
  a.release('10.0.0.1');
  assert.equal(b.countFor('10.0.0.1'), 1);
  assert.equal(b.tryAcquire('10.0.0.1'), true);
  b.release('10.0.0.1');
  b.release('10.0.0.1');
  b.release('2001:db8::1');
  assert.equal(a.countFor('10.0.0.1'), 0);
  assert.equal(a.addresses, 0);
});

test('SharedConnectionLimits: thousands of addresses added and removed in random order agree with a Map', () => {
  const mem = SharedConnectionLimits.allocate(1024);
  const t = new SharedConnectionLimits(mem, 40, 0);
  const oracle = new Map<string, number>();
  let seed = 12345;
  const rand = (n: number): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed % n;
  };
  // 600 addresses in a 1024-entry table: long probe runs, many of them wrapping
  const ips = Array.from({ length: 600 }, (_, i) => (i % 2 === 0 ? `10.${i >> 8}.${i & 255}.7` : `2001:db8::${i.toString(16)}`));
  for (let step = 0; step < 20000; step++) {
    const ip = ips[rand(ips.length)] as string;
    const n = oracle.get(ip) ?? 0;
    if (n > 0 && rand(2) === 0) {
      t.release(ip);
      if (n === 1) oracle.delete(ip);
      else oracle.set(ip, n - 1);
    } else {
      assert.equal(t.tryAcquire(ip), true);
      oracle.set(ip, n + 1);
    }
    if (step % 997 === 0) for (const x of ips) assert.equal(t.countFor(x), oracle.get(x) ?? 0, x);
  }
  for (const x of ips) assert.equal(t.countFor(x), oracle.get(x) ?? 0, x);
  assert.equal(t.addresses, oracle.size);
});

test('SharedConnectionLimits: a full table refuses instead of miscounting', () => {
  const t = new SharedConnectionLimits(SharedConnectionLimits.allocate(4), 40, 0);
  assert.equal(t.tryAcquire('10.0.0.1'), true);
  assert.equal(t.tryAcquire('10.0.0.2'), true);
  assert.equal(t.tryAcquire('10.0.0.3'), true);
  assert.equal(t.tryAcquire('10.0.0.4'), false);
  assert.equal(t.tryAcquire('10.0.0.1'), true, 'a known address still counts');
});

test('tableEntriesFor: twice the connections, a power of two, bounded', () => {
  assert.equal(tableEntriesFor(10), MIN_ENTRIES);
  assert.equal(tableEntriesFor(1000), 2048);
  assert.equal(tableEntriesFor(1e9), MAX_ENTRIES);
});

test('SharedConnectionLimits: four threads racing on one address never pass MAXCONIP together', async () => {
  const mem = SharedConnectionLimits.allocate(1024);
  const max = 50;
  const script = `
    const { workerData, parentPort } = require('node:worker_threads');
    const { SharedConnectionLimits } = require(${JSON.stringify(require.resolve('./shared-limits'))});
    const t = new SharedConnectionLimits(workerData.mem, 40, ${max});
    let held = 0, peakOk = true;
    for (let i = 0; i < 20000; i++) {
      if (held > 0 && (i & 3) === 0) { t.release('192.0.2.1'); held--; }
      else if (t.tryAcquire('192.0.2.1')) held++;
      if (t.countFor('192.0.2.1') > ${max}) peakOk = false;
    }
    parentPort.postMessage({ held, peakOk });
  `;
  const results = await Promise.all(
    [0, 1, 2, 3].map(
      () =>
        new Promise<{ held: number; peakOk: boolean }>((resolve, reject) => {
          const w = new Worker(script, { eval: true, workerData: { mem } });
          w.once('message', resolve);
          w.once('error', reject);
        }),
    ),
  );
  const t = new SharedConnectionLimits(mem, 40, max);
  const held = results.reduce((n, r) => n + r.held, 0);
  assert.ok(results.every((r) => r.peakOk), 'no thread ever saw more than MAXCONIP');
  assert.equal(t.countFor('192.0.2.1'), held, 'the shared count is exactly what the threads hold');
  assert.ok(held <= max);
});
