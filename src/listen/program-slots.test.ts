import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProgramSlots } from './program-slots';

test('ProgramSlots: past -c, connections wait in arrival order and get freed slots', async () => {
  const p = new ProgramSlots(1);
  const never = new AbortController().signal;
  assert.equal(await p.acquire(never), true);
  const order: string[] = [];
  const b = p.acquire(never).then((ok) => order.push(`b:${ok}`));
  const c = p.acquire(never).then((ok) => order.push(`c:${ok}`));
  assert.equal(p.waiting, 2);
  p.release();
  await b;
  assert.deepEqual(order, ['b:true']);
  assert.equal(p.running, 1);
  p.release();
  await c;
  assert.deepEqual(order, ['b:true', 'c:true']);
});

test('ProgramSlots: a waiter that aborts leaves the line and takes nothing', async () => {
  const p = new ProgramSlots(1);
  const never = new AbortController().signal;
  await p.acquire(never);
  const ac = new AbortController();
  const gone = p.acquire(ac.signal);
  const next = p.acquire(never);
  ac.abort();
  assert.equal(await gone, false);
  assert.equal(p.waiting, 1);
  p.release();
  assert.equal(await next, true);
  assert.equal(p.running, 1);
  assert.equal(await p.acquire(AbortSignal.abort()), false);
});
