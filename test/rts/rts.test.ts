// Runs each test/rts/*.tests transcript under `env -` with bash and diffs its output with the .exp file.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

/** dist/test/rts -> the repository root, where the .tests and .exp files live. */
const REPO_ROOT = join(__dirname, '..', '..', '..');
const RTS_DIR = join(REPO_ROOT, 'test', 'rts');
const DIST_DIR = join(__dirname, '..', '..');
/** A transcript runs a few dozen short node processes. */
const TRANSCRIPT_TIMEOUT_MS = 120_000;

for (const name of readdirSync(RTS_DIR).filter((f) => f.endsWith('.tests')).sort()) {
  test(`transcript ${name} matches its .exp`, () => {
    const expected = readFileSync(join(RTS_DIR, name.replace(/\.tests$/, '.exp')), 'utf8');
    // as djb's rts.sh: an empty environment, so nothing from the caller leaks into the output
    const r = spawnSync('/usr/bin/env', ['-', '/bin/bash', join(RTS_DIR, name), process.execPath, DIST_DIR], {
      timeout: TRANSCRIPT_TIMEOUT_MS,
      encoding: 'utf8',
    });
    if (r.error) throw r.error;
    assert.equal(r.stderr, '');
    assert.equal(r.stdout, expected);
  });
}
