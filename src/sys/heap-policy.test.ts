// Tests for the heap policy: the pad while bulk output flows, and one trim after a quiet spell.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BULK_TOP_PAD_BYTES, DEFAULT_TOP_PAD_BYTES, HeapPolicy, type HeapControl } from './heap-policy';

const QUIET = 20;
// The production bound (2% of the wait) would make these timing tests depend on the machine's
// load: 2% of 20 ms is 0.4 ms, which a GC or a busy CI machine can take from a test's own loop,
// and then the trim is rightly called off. The timing tests count any loop that was not busy the
// whole wait as quiet; the busy test below uses a bound a busy-waiting loop always passes.
const NEVER_BUSY = 1;
const HALF_BUSY = 0.5;

/** A control that records what the policy asked for. */
function recorder(): { control: HeapControl; calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    control: {
      setTopPad: (bytes) => (calls.push(`pad ${bytes}`), true),
      trim: () => (calls.push('trim'), true),
    },
  };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const busy = (ms: number): void => {
  const until = Date.now() + ms;
  while (Date.now() < until);
};

test('one trim after a quiet spell, and none before it; nothing more until the next activity', async () => {
  const { control, calls } = recorder();
  const policy = new HeapPolicy(control, QUIET, NEVER_BUSY);
  policy.activity();
  await sleep(QUIET / 2);
  assert.deepEqual(calls, []);
  await sleep(QUIET * 2 + 150);
  assert.deepEqual(calls, ['trim']);
  await sleep(QUIET * 4);
  assert.deepEqual(calls, ['trim']);
  policy.activity();
  await sleep(QUIET * 2 + 150);
  assert.deepEqual(calls, ['trim', 'trim']);
  policy.stop();
});

test('activity every few ms keeps the trim off; it comes once the activity stops', async () => {
  const { control, calls } = recorder();
  const policy = new HeapPolicy(control, QUIET, NEVER_BUSY);
  for (let i = 0; i < 20; i++) {
    policy.activity();
    await sleep(QUIET / 4);
  }
  assert.deepEqual(calls, []);
  await sleep(QUIET * 2 + 150);
  assert.deepEqual(calls, ['trim']);
  policy.stop();
});

test('bulk output sets the large pad every time; the quiet spell sets glibc\'s back before the trim', async () => {
  const { control, calls } = recorder();
  const policy = new HeapPolicy(control, QUIET, NEVER_BUSY);
  policy.activity();
  policy.bulkOutput();
  policy.bulkOutput();
  assert.deepEqual(calls, [`pad ${BULK_TOP_PAD_BYTES}`, `pad ${BULK_TOP_PAD_BYTES}`]);
  await sleep(QUIET * 2 + 150);
  assert.deepEqual(calls.slice(2), [`pad ${DEFAULT_TOP_PAD_BYTES}`, 'trim']);
  // the next quiet spell without bulk output trims only
  policy.activity();
  await sleep(QUIET * 2 + 150);
  assert.deepEqual(calls.slice(4), ['trim']);
  policy.stop();
});

test('a loop busy during the second wait (data still moving) calls the trim off until the next activity', async () => {
  const { control, calls } = recorder();
  const policy = new HeapPolicy(control, QUIET, HALF_BUSY);
  policy.activity();
  // busy through the whole second wait: the loop is most of the time in this callback
  setTimeout(() => busy(QUIET + 10), QUIET + 2);
  await sleep(QUIET * 6);
  assert.deepEqual(calls, []);
  policy.activity();
  await sleep(QUIET * 2 + 150);
  assert.deepEqual(calls, ['trim']);
  policy.stop();
});

test('stop: no trim after it', async () => {
  const { control, calls } = recorder();
  const policy = new HeapPolicy(control, QUIET, NEVER_BUSY);
  policy.activity();
  policy.stop();
  await sleep(QUIET * 3);
  assert.deepEqual(calls, []);
});
