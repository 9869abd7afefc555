// Privilege separation as two steps for the CLI: start (plan, key helper, spawner) and the drop after binding.
import { closeSync, openSync } from 'node:fs';
import { exactArg } from '../env/env-bytes';
import { ConfigError, errCode, errnoText } from '../errors';
import * as native from '../sys/native';
import { spawnImpl } from '../spawn/spawn';
import type { TlsMaterial } from '../tls/context';
import type { TlsSettings } from '../tls/settings';
import type { TextReader } from './identity';
import { KeyHelper } from './key-client';
import { dropNetworkPrivileges, privilegePlan, type CurrentIdentity, type PrivilegePlan } from './privileges';
import { SpawnerClient, type SpawnerChannel } from './spawner-client';
import { StartupFiles } from './startup-files';

/** What the start-up knows when it sets up privilege separation. */
export interface SeparationRequest {
  /** The start-up environment (SSL_USER, SSL_UID, SSL_CHROOT…). */
  readonly env: Record<string, string | undefined>;
  /** Our uid and gid. */
  readonly current: CurrentIdentity;
  /** The program and its arguments: the only thing the spawner can start. */
  readonly program: readonly string[];
  /** -u/-U uid for programs. */
  readonly uid?: number;
  /** -g/-U gid for programs. */
  readonly gid?: number;
  /** The -3 password. */
  readonly password?: Buffer;
  /** Reads /etc/passwd and /etc/group (tests pass their own). */
  readonly read?: TextReader;
  /** Event loops of the server: each gets its own spawner (default 1). */
  readonly loops?: number;
}

/** The processes and roles a start ended up with. */
export interface PrivilegeSeparation {
  readonly plan: PrivilegePlan;
  /**
   * Loads a TLS set-up (start-up and per-rule): through the key helper with an SSL identity, else
   * as root until the drop and then from the start-up files plus the disk as nobody
   * (StartupFiles). Undefined (plain): the network process reads files itself with `password`.
   */
  readonly loadMaterial?: (settings: TlsSettings) => Promise<TlsMaterial>;
  /** Starts programs as their identity; undefined: the network process starts them itself. */
  readonly spawner?: SpawnerClient;
  /** The spawners of the other event loops (loops - 1 of them), each to be adopted in its loop. */
  readonly spawnerChannels?: readonly SpawnerChannel[];
  /** Plain plan only: the -3 password the network process keeps for per-rule keys. */
  readonly password?: Buffer;
  /** Without key helper: the start-up files, sealed at the drop. */
  readonly startupFiles?: StartupFiles;
}

/**
 * Whether programs can go through sslserver-spawner: the addon loads, the spawner is built and
 * SSLSERVER_SPAWN=node (a test/debug switch for the child_process path) is not set.
 * @returns true when a spawner can be started
 */
export function spawnerPossible(): boolean {
  return spawnImpl() === 'native' && native.spawnerPath() !== undefined;
}

/**
 * Decides the privilege plan and starts what it needs, before binding: the key helper (root
 * start with an SSL identity) and the spawner (any separated plan). The spawner may start only
 * `program`, as -u/-g (with only the -g group; no groups with -u alone; root, unchanged,
 * without either, as the reference).
 * @param req environment, identity, program, -u/-g, password
 * @returns the plan, the TLS loader, the spawner and (plain) the password left to us
 * @throws ConfigError (fatal, exit 111): a bad plan (see privilegePlan), a key helper or a
 *   spawner that cannot start
 * @example
 * const sep = await startPrivilegeSeparation({ env: process.env, current: { uid: 0, gid: 0 }, program: ['cat'] });
 */
export async function startPrivilegeSeparation(req: SeparationRequest): Promise<PrivilegeSeparation> {
  const plan = privilegePlan(req.env, req.current, { spawner: spawnerPossible(), ...(req.read === undefined ? {} : { read: req.read }) });
  if (plan.kind === 'plain') return { plan, ...(req.password === undefined ? {} : { password: req.password }) };
  let loadMaterial: (s: TlsSettings) => Promise<TlsMaterial>;
  let startupFiles: StartupFiles | undefined;
  if (plan.keyHelper) {
    try {
      const helper = await KeyHelper.start({ identity: plan.identity, ...(plan.chroot === undefined ? {} : { chroot: plan.chroot }), ...(req.password === undefined ? {} : { password: req.password }) });
      loadMaterial = (s) => helper.load(s);
    } catch (err) {
      throw new ConfigError(`unable to start the key helper: ${(err as Error).message}`, { kind: 'fatal', cause: err });
    }
    // the helper keeps the password; we have no more use for it
    req.password?.fill(0);
  } else {
    // as the reference, the start-up files are read as root before anything is given up
    startupFiles = new StartupFiles(req.password);
    loadMaterial = startupFiles.load;
  }
  // one spawner per event loop: a channel serves one loop's requests and replies
  const channels: SpawnerChannel[] = [];
  try {
    for (let i = 0; i < Math.max(1, req.loops ?? 1); i++) {
      channels.push(SpawnerClient.launch({
        argv: req.program,
        ...(req.uid === undefined ? {} : { uid: req.uid }),
        ...(req.gid === undefined ? {} : { gid: req.gid, groups: [req.gid] }),
        ...(req.uid !== undefined && req.gid === undefined ? { groups: [] } : {}),
      }));
    }
  } catch (err) {
    throw new ConfigError(`unable to start the spawner: ${(err as Error).message}`, { kind: 'fatal', cause: err });
  }
  const spawner = SpawnerClient.adopt(channels[0] as SpawnerChannel);
  const spawnerChannels = channels.slice(1);
  return { plan, spawner, spawnerChannels, loadMaterial, ...(startupFiles === undefined ? {} : { startupFiles }) };
}

/**
 * After binding: the network process gives up root (separated plans; nothing for plain), then
 * checks that the rules files it reads per connection are still open to it, so that a file the
 * new identity may not read stops the start instead of dropping every connection.
 * A missing file is left to the per-connection rules (it may appear later; -X).
 * @param sep what startPrivilegeSeparation set up
 * @param rulesFiles the -x and -y files
 * @throws ConfigError (fatal, exit 111): `unable to drop privileges: …`,
 *   `unable to read: FILE as uid U gid G: permission denied`
 */
export function dropAfterBind(sep: PrivilegeSeparation, rulesFiles: readonly string[]): void {
  const { plan } = sep;
  if (plan.kind !== 'separated') return;
  sep.startupFiles?.seal();
  try {
    dropNetworkPrivileges(plan.identity);
  } catch (err) {
    throw new ConfigError(`unable to drop privileges: ${(err as Error).message}`, { kind: 'fatal', cause: err });
  }
  for (const file of rulesFiles) {
    try {
      closeSync(openSync(exactArg(file), 'r'));
    } catch (err) {
      const code = errCode(err);
      if (code !== 'EACCES' && code !== 'EPERM') continue;
      throw new ConfigError(`unable to read: ${file} as uid ${plan.identity.uid} gid ${plan.identity.gid}: ${errnoText(err)}`, { kind: 'fatal', cause: err });
    }
  }
}
