// Which privilege separation a start needs, and the network process's own drop after binding.
import { ConfigError } from '../errors';
import * as native from '../sys/native';
import { defaultIdentity, sslIdentityFromEnv, type Identity, type TextReader } from './identity';

/** How the server runs after start-up. */
export type PrivilegePlan =
  /** As started: files read here, programs spawned here (no root; or root with no spawner built). */
  | { readonly kind: 'plain' }
  /**
   * Root start with a spawner: programs through the spawner, the network process dropped to
   * `identity` after binding. With an SSL identity (`keyHelper`) every TLS file is read by the
   * key helper (in `chroot`); without one, `identity` is nobody and the start-up TLS files are
   * read here as root before the drop, later ones (per-rule) as nobody.
   */
  | { readonly kind: 'separated'; readonly identity: Identity; readonly keyHelper: boolean; readonly chroot?: string };

/** Who we are now (tests pass another). */
export interface CurrentIdentity {
  readonly uid: number;
  readonly gid: number;
}

/** What privilegePlan needs besides the environment and our identity. */
export interface PlanContext {
  /** Whether programs can be started through sslserver-spawner (addon and spawner built, SSLSERVER_SPAWN not `node`). */
  readonly spawner: boolean;
  /** Reads /etc/passwd and /etc/group (tests pass their own). */
  readonly read?: TextReader;
}

/**
 * Decides the plan from SSL_USER/SSL_GROUP/SSL_UID/SSL_GID/SSL_CHROOT, our identity and
 * whether a spawner can run.
 * Not root: plain. Root with an SSL identity: separated with the key helper. Root without:
 * separated as nobody when there is a spawner, else plain (stays root, as the reference).
 * @param env the start-up environment
 * @param current our uid and gid
 * @param ctx whether there is a spawner, and the passwd/group reader
 * @returns the plan
 * @throws ConfigError (exit 111): a chroot or identity change asked for without root,
 *   SSL_CHROOT without an SSL identity, or a bad identity
 * @example
 * privilegePlan({}, { uid: 0, gid: 0 }, { spawner: true });
 * // { kind: 'separated', identity: { uid: 65534, gid: 65534 }, keyHelper: false }
 */
export function privilegePlan(env: Record<string, string | undefined>, current: CurrentIdentity, ctx: PlanContext): PrivilegePlan {
  const identity = sslIdentityFromEnv(env, ctx.read);
  const chroot = env.SSL_CHROOT === undefined || env.SSL_CHROOT === '' ? undefined : env.SSL_CHROOT;
  if (current.uid !== 0) {
    if (chroot !== undefined) throw new ConfigError(`unable to chroot to: ${chroot}: not started as root`, { kind: 'fatal' });
    if (identity !== undefined && (identity.uid !== current.uid || identity.gid !== current.gid)) {
      throw new ConfigError(`unable to become SSL_UID ${identity.uid} SSL_GID ${identity.gid}: not started as root`, { kind: 'fatal' });
    }
    return { kind: 'plain' };
  }
  if (identity === undefined) {
    // a chroot with root inside is no confinement
    if (chroot !== undefined) throw new ConfigError('SSL_CHROOT needs SSL_USER or SSL_UID', { kind: 'fatal' });
    // without a spawner the network process must keep root to start programs as -u/-g (or root)
    if (!ctx.spawner) return { kind: 'plain' };
    return { kind: 'separated', identity: defaultIdentity(ctx.read), keyHelper: false };
  }
  return { kind: 'separated', identity, keyHelper: true, ...(chroot === undefined ? {} : { chroot }) };
}

/**
 * The network process gives up root for good after binding: empty capability bounding set,
 * non-dumpable, no supplementary groups, then gid and uid (setgroups, setgid, setuid: after
 * setuid from root with every uid changed, the kernel clears the permitted and effective sets).
 * @param identity the SSL identity, or nobody
 * @throws SysError/Error from prctl, setgroups, setgid, setuid
 */
export function dropNetworkPrivileges(identity: Identity): void {
  const { setgroups, setgid, setuid } = posixIdCalls();
  native.dropPrivilegeLimits();
  setgroups([]);
  setgid(identity.gid);
  setuid(identity.uid);
  // setuid reset it from /proc/sys/fs/suid_dumpable; keep it off whatever that says
  native.setNonDumpable();
  if (process.getuid?.() !== identity.uid || process.geteuid?.() !== identity.uid || process.getegid?.() !== identity.gid) {
    throw new Error('identity did not change');
  }
}

/**
 * Node's setgroups/setgid/setuid (POSIX only).
 * @returns the three calls, bound to process
 * @throws Error on a platform without them
 */
export function posixIdCalls(): { setgroups(g: number[]): void; setgid(id: number): void; setuid(id: number): void } {
  const { setgroups, setgid, setuid } = process;
  if (setgroups === undefined || setgid === undefined || setuid === undefined) throw new Error('no setuid on this platform');
  return { setgroups: (g) => setgroups.call(process, g), setgid: (id) => setgid.call(process, id), setuid: (id) => setuid.call(process, id) };
}
