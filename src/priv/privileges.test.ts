// privilegePlan: which separation a start gets, from the environment, our identity and the spawner.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../errors';
import { privilegePlan, type PrivilegePlan } from './privileges';

const PASSWD = ['root:x:0:0:root:/root:/bin/bash', 'daemon:x:1:1::/:/bin/false', 'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin', 'www:x:33:33::/var/www:/bin/false', ''].join('\n');
const GROUP = ['root:x:0:', 'daemon:x:1:', 'www-data:x:33:', 'nogroup:x:65534:', ''].join('\n');

/** A reader over the given passwd and group texts (a missing one throws ENOENT, like readFileSync). */
function files(passwd: string | undefined, group = GROUP): (p: string) => string {
  return (p) => {
    const text = p === '/etc/passwd' ? passwd : p === '/etc/group' ? group : undefined;
    if (text === undefined) throw Object.assign(new Error(`ENOENT: ${p}`), { code: 'ENOENT' });
    return text;
  };
}

const ROOT = { uid: 0, gid: 0 };
const NOBODY = { uid: 65534, gid: 65534 };

test('privilegePlan: table of environment, identity and spawner to plan', () => {
  const rows: Array<[string, Record<string, string>, { uid: number; gid: number }, boolean, PrivilegePlan]> = [
    ['root, no SSL identity, spawner: nobody without key helper', {}, ROOT, true, { kind: 'separated', identity: NOBODY, keyHelper: false }],
    ['root, empty SSL_USER is unset', { SSL_USER: '', SSL_CHROOT: '' }, ROOT, true, { kind: 'separated', identity: NOBODY, keyHelper: false }],
    ['root, no SSL identity, no spawner: stays root', {}, ROOT, false, { kind: 'plain' }],
    ['root, SSL_USER: key helper', { SSL_USER: 'www' }, ROOT, true, { kind: 'separated', identity: { uid: 33, gid: 33 }, keyHelper: true }],
    ['root, SSL_UID/SSL_GID and chroot', { SSL_UID: '1', SSL_GID: '33', SSL_CHROOT: '/var/empty' }, ROOT, true, { kind: 'separated', identity: { uid: 1, gid: 33 }, keyHelper: true, chroot: '/var/empty' }],
    ['root, SSL_USER and SSL_GROUP', { SSL_USER: 'daemon', SSL_GROUP: 'nogroup' }, ROOT, true, { kind: 'separated', identity: { uid: 1, gid: 65534 }, keyHelper: true }],
    // the spawner's absence shows later as a fatal start-up error, never as a silent root
    ['root, SSL identity, no spawner: still the key helper', { SSL_USER: 'www' }, ROOT, false, { kind: 'separated', identity: { uid: 33, gid: 33 }, keyHelper: true }],
    ['plain user, nothing asked', {}, { uid: 1000, gid: 1000 }, true, { kind: 'plain' }],
    ['plain user, own identity is no change', { SSL_UID: '33', SSL_GID: '33' }, { uid: 33, gid: 33 }, true, { kind: 'plain' }],
  ];
  for (const [what, env, current, spawner, want] of rows) {
    assert.deepEqual(privilegePlan(env, current, { spawner, read: files(PASSWD) }), want, what);
  }
});

test('privilegePlan: a root start without SSL identity takes passwd nobody, else 65534/65534', () => {
  const rows: Array<[string, string | undefined, { uid: number; gid: number }]> = [
    ['nobody with its own numbers', 'root:x:0:0::/:/bin/sh\nnobody:x:99:98::/:/bin/false\n', { uid: 99, gid: 98 }],
    ['no nobody entry', 'root:x:0:0::/:/bin/sh\n', NOBODY],
    ['no /etc/passwd at all', undefined, NOBODY],
    ['a nobody that is root is no drop', 'nobody:x:0:0::/:/bin/false\n', NOBODY],
    ['a nobody with a root group is no drop either', 'nobody:x:99:0::/:/bin/false\n', NOBODY],
    ['a broken nobody line', 'nobody:x:abc\n', NOBODY],
    ['a comment is not an entry', '#nobody:x:5:5::/:/bin/false\n', NOBODY],
  ];
  for (const [what, passwd, identity] of rows) {
    assert.deepEqual(privilegePlan({}, ROOT, { spawner: true, read: files(passwd) }), { kind: 'separated', identity, keyHelper: false }, what);
  }
});

test('privilegePlan: start-up errors (111) for what cannot be done', () => {
  const rows: Array<[string, Record<string, string>, { uid: number; gid: number }, RegExp]> = [
    ['chroot without root', { SSL_CHROOT: '/var/empty' }, { uid: 1000, gid: 1000 }, /^unable to chroot to: \/var\/empty: not started as root$/],
    ['another identity without root', { SSL_USER: 'daemon' }, { uid: 1000, gid: 1000 }, /^unable to become SSL_UID 1 SSL_GID 1: not started as root$/],
    ['chroot with root inside', { SSL_CHROOT: '/var/empty' }, ROOT, /^SSL_CHROOT needs SSL_USER or SSL_UID$/],
    ['unknown user', { SSL_USER: 'nosuchuser' }, ROOT, /^unknown SSL_USER: nosuchuser$/],
    ['unknown group', { SSL_USER: 'daemon', SSL_GROUP: 'nosuch' }, ROOT, /^unknown SSL_GROUP: nosuch$/],
    ['group alone', { SSL_GID: '1' }, ROOT, /^SSL_GID or SSL_GROUP needs SSL_UID or SSL_USER$/],
    ['uid not in passwd and no group', { SSL_UID: '4242' }, ROOT, /^SSL_GID or SSL_GROUP needed for SSL_UID: 4242$/],
    ['not a number', { SSL_UID: '1x', SSL_GID: '1' }, ROOT, /^bad SSL_UID: 1x$/],
    ['(uid_t)-1 is no identity', { SSL_UID: '4294967295', SSL_GID: '1' }, ROOT, /^bad SSL_UID: 4294967295$/],
  ];
  for (const [what, env, current, message] of rows) {
    for (const spawner of [true, false]) {
      assert.throws(() => privilegePlan(env, current, { spawner, read: files(PASSWD) }), (err: unknown) => err instanceof ConfigError && message.test(err.message), what);
    }
  }
});
