// The SSL identity (SSL_USER/SSL_GROUP or SSL_UID/SSL_GID) from the environment, looked up before any drop.
import { readFileSync } from 'node:fs';
import { ConfigError } from '../errors';

/** A numeric identity: uid and primary gid. */
export interface Identity {
  readonly uid: number;
  readonly gid: number;
}

/** Reads a whole file as text (tests pass their own passwd/group). */
export type TextReader = (path: string) => string;

// uid_t/gid_t are 32 bits and (uid_t)-1 means "no change" to setresuid.
const MAX_ID = 0xfffffffe;

/** The user a root start without SSL identity drops to. */
export const DEFAULT_USER = 'nobody';
/** Its uid and gid when /etc/passwd has no such user: Linux's overflow id, Debian's nobody/nogroup. */
export const DEFAULT_ID = 65534;

/**
 * The identity the key helper and the network process take after a root start.
 * SSL_UID wins over SSL_USER and SSL_GID over SSL_GROUP (numbers are what the reference reads);
 * a missing group is the user's primary group from /etc/passwd.
 *
 * @param env the start-up environment
 * @param read reads /etc/passwd and /etc/group
 * @returns the identity, or undefined when none of the four variables is set
 * @throws ConfigError `unknown SSL_USER: x`, `unknown SSL_GROUP: x`, `bad SSL_UID: x`,
 *   `bad SSL_GID: x`, `SSL_GID or SSL_GROUP needed for SSL_UID: x` (uid not in /etc/passwd),
 *   `SSL_GID or SSL_GROUP needs SSL_UID or SSL_USER`
 */
export function sslIdentityFromEnv(env: Record<string, string | undefined>, read: TextReader = (p) => readFileSync(p, 'latin1')): Identity | undefined {
  const user = nonEmpty(env.SSL_USER);
  const group = nonEmpty(env.SSL_GROUP);
  const uidText = nonEmpty(env.SSL_UID);
  const gidText = nonEmpty(env.SSL_GID);
  if (user === undefined && uidText === undefined) {
    if (group !== undefined || gidText !== undefined) throw new ConfigError('SSL_GID or SSL_GROUP needs SSL_UID or SSL_USER');
    return undefined;
  }
  let passwd: string[][] | undefined;
  const passwdEntries = (): string[][] => (passwd ??= entries(read, '/etc/passwd'));
  let uid: number;
  let primaryGid: number | undefined;
  if (uidText !== undefined) {
    uid = parseId(uidText, 'SSL_UID');
    const entry = passwdEntries().find((e) => e[2] === String(uid));
    if (entry !== undefined) primaryGid = parseId(entry[3] ?? '', 'SSL_UID');
  } else {
    const entry = passwdEntries().find((e) => e[0] === user);
    if (entry === undefined) throw new ConfigError(`unknown SSL_USER: ${user ?? ''}`);
    uid = parseId(entry[2] ?? '', 'SSL_USER');
    primaryGid = parseId(entry[3] ?? '', 'SSL_USER');
  }
  let gid: number;
  if (gidText !== undefined) {
    gid = parseId(gidText, 'SSL_GID');
  } else if (group !== undefined) {
    const entry = entries(read, '/etc/group').find((e) => e[0] === group);
    if (entry === undefined) throw new ConfigError(`unknown SSL_GROUP: ${group}`);
    gid = parseId(entry[2] ?? '', 'SSL_GROUP');
  } else if (primaryGid !== undefined) {
    gid = primaryGid;
  } else {
    throw new ConfigError(`SSL_GID or SSL_GROUP needed for SSL_UID: ${uid}`);
  }
  return { uid, gid };
}

/**
 * The identity the network process takes after a root start without SSL identity: the passwd
 * user `nobody` with its primary group, or 65534/65534 when there is no usable such entry
 * (missing, unreadable file, bad numbers, or uid/gid 0, which would be no drop at all).
 *
 * @param read reads /etc/passwd
 * @returns the identity
 */
export function defaultIdentity(read: TextReader = (p) => readFileSync(p, 'latin1')): Identity {
  const entry = entries(read, '/etc/passwd').find((e) => e[0] === DEFAULT_USER);
  const uid = usableId(entry?.[2]);
  const gid = usableId(entry?.[3]);
  if (uid === undefined || gid === undefined) return { uid: DEFAULT_ID, gid: DEFAULT_ID };
  return { uid, gid };
}

/** A passwd number that is a real drop (not root, not (uid_t)-1), else undefined. */
function usableId(text: string | undefined): number | undefined {
  if (text === undefined || !/^[0-9]{1,10}$/.test(text)) return undefined;
  const id = Number(text);
  return id === 0 || id > MAX_ID ? undefined : id;
}

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v === '' ? undefined : v;
}

function parseId(text: string, what: string): number {
  if (!/^[0-9]{1,10}$/.test(text) || Number(text) > MAX_ID) throw new ConfigError(`bad ${what}: ${text}`);
  return Number(text);
}

/** colon-separated lines of a passwd/group file; an unreadable file has none. */
function entries(read: TextReader, path: string): string[][] {
  let text: string;
  try {
    text = read(path);
  } catch {
    return [];
  }
  return text.split('\n').filter((l) => l !== '' && !l.startsWith('#')).map((l) => l.split(':'));
}
