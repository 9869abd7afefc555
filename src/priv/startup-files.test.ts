// StartupFiles: files read before the drop answer from memory afterwards; others are read each time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StartupFiles } from './startup-files';

/** A disk whose files can be made unreadable (as after a drop), counting reads. */
function fakeDisk(files: Record<string, string>): { read(p: string): Buffer; reads: string[]; deny: Set<string> } {
  const reads: string[] = [];
  const deny = new Set<string>();
  return {
    reads,
    deny,
    read(p) {
      reads.push(p);
      if (deny.has(p)) throw Object.assign(new Error(`EACCES: permission denied, open '${p}'`), { code: 'EACCES' });
      const text = files[p];
      if (text === undefined) throw Object.assign(new Error(`ENOENT: no such file, open '${p}'`), { code: 'ENOENT' });
      return Buffer.from(text);
    },
  };
}

test('StartupFiles: a file read before seal() is served from memory after it, even when the disk now refuses it', () => {
  const disk = fakeDisk({ '/root/key.pem': 'KEY', '/srv/rule.pem': 'RULE' });
  const files = new StartupFiles(undefined, disk.read);
  assert.equal(files.read('/root/key.pem').toString(), 'KEY');
  files.seal();
  disk.deny.add('/root/key.pem');
  assert.equal(files.read('/root/key.pem').toString(), 'KEY');
  assert.deepEqual(disk.reads, ['/root/key.pem']);
});

test('StartupFiles: after seal() other paths are read from disk each time and not kept', () => {
  const disk = fakeDisk({ '/srv/rule.pem': 'RULE' });
  const files = new StartupFiles(undefined, disk.read);
  files.seal();
  assert.equal(files.read('/srv/rule.pem').toString(), 'RULE');
  assert.equal(files.read('/srv/rule.pem').toString(), 'RULE');
  assert.deepEqual(disk.reads, ['/srv/rule.pem', '/srv/rule.pem']);
  disk.deny.add('/srv/rule.pem');
  assert.throws(() => files.read('/srv/rule.pem'), { code: 'EACCES' });
});

test('StartupFiles: a failed read before seal() is not kept', () => {
  const disk = fakeDisk({});
  const files = new StartupFiles(undefined, disk.read);
  assert.throws(() => files.read('/nope'), { code: 'ENOENT' });
  files.seal();
  assert.throws(() => files.read('/nope'), { code: 'ENOENT' });
  assert.deepEqual(disk.reads, ['/nope', '/nope']);
});

test('StartupFiles.load: a missing certificate is the reference message, as a rejection', async () => {
  const files = new StartupFiles(undefined, fakeDisk({}).read);
  await assert.rejects(files.load({ certFile: '/nope.pem', verifyDepth: 1, clientCert: 'none' }), { message: 'unable to load certificate: /nope.pem' });
});
