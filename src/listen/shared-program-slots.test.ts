import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { SharedProgramSlots } from './shared-program-slots';

test('SharedProgramSlots: -c holds across two views; a waiter gets the slot freed by the other', async () => {
  const mem = SharedProgramSlots.allocate();
  const a = new SharedProgramSlots(mem, 2);
  const b = new SharedProgramSlots(mem, 2);
  const never = new AbortController().signal;
  assert.equal(await a.acquire(never), true);
  assert.equal(await b.acquire(never), true);
  assert.equal(a.running, 2);
  let got = false;
  const waiting = b.acquire(never).then((ok) => (got = ok));
  assert.equal(b.waiting, 1);
  await new Promise((r) => setImmediate(r));
  assert.equal(got, false, 'no slot while two programs run');
  a.release();
  await waiting;
  assert.equal(got, true);
  assert.equal(b.running, 2);
  assert.equal(b.waiting, 0);
});

test('SharedProgramSlots: an aborted waiter leaves the line and takes nothing', async () => {
  const mem = SharedProgramSlots.allocate();
  const s = new SharedProgramSlots(mem, 1);
  const never = new AbortController().signal;
  assert.equal(await s.acquire(never), true);
  const ac = new AbortController();
  const w = s.acquire(ac.signal);
  ac.abort();
  assert.equal(await w, false);
  assert.equal(s.waiting, 0);
  s.release();
  assert.equal(s.running, 0);
});

test('SharedProgramSlots: three threads with 200 programs each under -c 3 never pass 3 and all finish', async () => {
  const mem = SharedProgramSlots.allocate();
  const script = `
    const { workerData, parentPort } = require('node:worker_threads');
    const { SharedProgramSlots } = require(${JSON.stringify(require.resolve('./shared-program-slots'))});
    const s = new SharedProgramSlots(workerData.mem, 3);
    let over = 0, done = 0;
    const one = async () => {
      if (!(await s.acquire(new AbortController().signal))) return;
      if (s.running > 3) over++;
      await new Promise((r) => setTimeout(r, 1));
      s.release();
      done++;
    };
    Promise.all(Array.from({ length: 200 }, one)).then(() => parentPort.postMessage({ over, done }));
  `;
  const results = await Promise.all(
    [0, 1, 2].map(
      () =>
        new Promise<{ over: number; done: number }>((resolve, reject) => {
          const w = new Worker(script, { eval: true, workerData: { mem } });
          w.once('message', resolve);
          w.once('error', reject);
        }),
    ),
  );
  assert.deepEqual(results.map((r) => r.done), [200, 200, 200]);
  assert.deepEqual(results.map((r) => r.over), [0, 0, 0]);
  assert.equal(new SharedProgramSlots(mem, 3).running, 0);
});
