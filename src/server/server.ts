// A running sslserver: the listener, the limits, the TLS configurations, and SIGTERM.
import { readFileSync } from 'node:fs';
import { exactArg } from '../env/env-bytes';
import type { Log } from '../log/log';
import { ConnectionLimits, type ConnectionCounts } from '../listen/limits';
import { HandshakeTable, type SharedIpCounts } from '../listen/handshake-table';
import { ProgramSlots, type ProgramSlotPool } from '../listen/program-slots';
import { handshakeFdBudget } from '../listen/fd-budget';
import { Listener, type BoundSocket, type ListenerOptions } from '../listen/listener';
import type { Accepted } from '../listen/accepted';
import { tlsSettingsFromEnv } from '../tls/settings';
import { contextOptionsFromEnv, createServerContext, loadTlsMaterial, type ContextOptions, type ServerTlsConfig, type TlsMaterial } from '../tls/context';
import type { TlsSettings } from '../tls/settings';
import type { ServerConfig } from './config';
import { handleConnection, type SessionHost } from './session';
import { Lookups } from '../lookup/identify';
import { resolverServersFromEnv } from '../lookup/resolver-servers';
import type { HeapActivity } from '../sys/heap-policy';

// Variables a rule may set to change the TLS set-up of its connections.
const TLS_VARIABLES = ['CERTFILE', 'KEYFILE', 'CERTCHAINFILE', 'DHFILE', 'CIPHERS', 'CAFILE', 'CADIR', 'CCAFILE', 'VERIFYDEPTH'] as const;
// Distinct per-rule TLS set-ups kept loaded; beyond that the oldest is dropped.
const MAX_TLS_CONFIGS = 64;
/** MAXHANDSHAKES when unset: connections before their program (rules, lookups, handshake) at once. */
export const DEFAULT_MAX_HANDSHAKES = 256;
/**
 * MAXHANDSHAKESIP when unset: of those, at most this many from one source IP. A quarter of the
 * table: many clients can share one address (carrier-grade NAT, a proxy), and past the bound an
 * address only evicts its own oldest, so a higher bound costs other addresses little.
 */
export const DEFAULT_MAX_HANDSHAKES_IP = 64;

/** How one event loop shares the server with others (all optional: one loop alone needs none). */
export interface EventLoopShare {
  /** MAXCONIP counts of all loops (SharedConnectionLimits). */
  limits?: ConnectionCounts;
  /** -c slots of all loops (SharedProgramSlots). */
  programs?: ProgramSlotPool;
  /** Loops serving the port: the handshake table (MAXHANDSHAKES) is split among them. */
  loops?: number;
  /** Handshake-table entries per address in all loops (MAXHANDSHAKESIP holds server-wide). */
  handshakeIpCounts?: SharedIpCounts;
  /** Ticket keys of every loop's contexts (ContextOptions.ticketKeys). */
  ticketKeys?: Buffer;
  /** Called once when SIGTERM was handled and the last session of this loop ended (default: exit 0). */
  onIdle?: () => void;
  /** The network process's heap policy (src/sys/heap-policy.ts; none without the addon); every loop has its own. */
  heap?: HeapActivity | undefined;
}

/** The server (or one event loop of it): owns its listener and every session's slot. */
export class SslServer implements SessionHost {
  readonly limits: ConnectionCounts;
  readonly handshakes: HandshakeTable;
  readonly programs: ProgramSlotPool;
  readonly lookups: Lookups;
  readonly serverPid = process.pid;
  private _listener: Listener | undefined;
  private _terminating = false;
  private readonly _tlsConfigs = new Map<string, Promise<ServerTlsConfig>>();
  private readonly _contextOptions: ContextOptions;
  private readonly _onIdle: () => void;
  private readonly _heap: HeapActivity | undefined;

  /**
   * @param config the start-up decisions
   * @param log the log
   * @param baseTls the TLS set-up from the start-up environment (already loaded: errors were fatal)
   * @param password the key password read from fd 3 (-3), reused for per-rule keys
   * @param loadMaterial loads a rule's TLS files elsewhere (the key helper, src/priv/key-client.ts);
   *   without it they are read here, with `password`
   * @param share what this loop shares with the server's other event loops
   */
  constructor(
    readonly config: ServerConfig,
    readonly log: Log,
    private readonly _baseTls: ServerTlsConfig,
    private readonly _password?: Buffer,
    private readonly _loadMaterial?: (settings: TlsSettings) => Promise<TlsMaterial>,
    share: EventLoopShare = {},
  ) {
    this.limits = share.limits ?? new ConnectionLimits(config.limit, config.maxConIp);
    this.programs = share.programs ?? new ProgramSlots(config.limit);
    let idle = false;
    const onIdle = share.onIdle ?? (() => process.exit(0));
    this._onIdle = () => {
      if (idle) return;
      idle = true;
      onIdle();
    };
    this._heap = share.heap;
    this._contextOptions = { ...contextOptionsFromEnv(config.baseEnv), ...(share.ticketKeys === undefined ? {} : { ticketKeys: share.ticketKeys }) };
    // never more than the fd limit leaves room for (e.g. under `ulimit -n 40`); the loops share
    // one fd table, so each gets its part of the budget and of the table
    const loops = Math.max(1, share.loops ?? 1);
    const maxHandshakes = Math.min(positiveOr(config.baseEnv.get('MAXHANDSHAKES'), DEFAULT_MAX_HANDSHAKES), handshakeFdBudget() ?? Infinity);
    const maxPerIp = positiveOr(config.baseEnv.get('MAXHANDSHAKESIP'), Math.min(DEFAULT_MAX_HANDSHAKES_IP, Math.max(1, Math.floor(maxHandshakes / 4))));
    this.handshakes = new HandshakeTable(maxHandshakes, maxPerIp, loops, share.handshakeIpCounts);
    this.lookups = new Lookups({
      lookupRemoteHost: config.lookupRemoteHost,
      paranoid: config.paranoid,
      lookupRemoteInfo: config.lookupRemoteInfo,
      identTimeoutMs: config.identTimeoutMs,
      resolvers: resolverServersFromEnv(Object.fromEntries(config.baseEnv)),
      ...(config.localName === undefined ? {} : { localName: config.localName }),
    });
  }

  /** Binds and starts accepting. @throws SysError from bind/listen */
  async listen(opts: ListenerOptions): Promise<Listener> {
    this._listener = await Listener.open(opts, this._onConnection, this._onAcceptError);
    return this._listener;
  }

  /** Starts accepting on a socket bound by the main thread (Listener.bind; SO_REUSEPORT). */
  async adopt(bound: BoundSocket): Promise<Listener> {
    this._listener = await Listener.adopt(bound, this._onConnection, this._onAcceptError);
    return this._listener;
  }

  private readonly _onConnection = (conn: Accepted): void => handleConnection(this, conn);

  // out of fds: drop the oldest stalled handshake so that the next accept has one
  private readonly _onAcceptError = (code: string): boolean => (code === 'EMFILE' || code === 'ENFILE') && this.handshakes.evictOldest();

  /**
   * SessionHost: the TLS set-up for a connection whose rule set `ruleEnv`: the start-up one at
   * once (no wait: the session goes on in the same turn), else a promise; concurrent connections
   * of one new set-up share one load, and a failed load is not kept.
   * @throws ConfigError from loading the files (or from the key helper; the promise rejects)
   */
  tlsFor(ruleEnv: ReadonlyMap<string, string>): ServerTlsConfig | Promise<ServerTlsConfig> {
    if (!TLS_VARIABLES.some((v) => ruleEnv.has(v))) return this._baseTls;
    const env: Record<string, string | undefined> = {};
    for (const v of TLS_VARIABLES) env[v] = ruleEnv.get(v) ?? this.config.baseEnv.get(v);
    const key = JSON.stringify(env);
    let cfg = this._tlsConfigs.get(key);
    if (cfg === undefined) {
      const settings = tlsSettingsFromEnv(env, this.config.clientCert);
      const load = this._loadMaterial;
      const pending = load !== undefined
        ? load(settings).then((m) => createServerContext(m, settings, this._contextOptions))
        : Promise.resolve().then(() => createServerContext(loadTlsMaterial(settings, (p) => readFileSync(exactArg(p)), this._password), settings, this._contextOptions));
      if (this._tlsConfigs.size >= MAX_TLS_CONFIGS) this._tlsConfigs.delete(this._tlsConfigs.keys().next().value as string);
      this._tlsConfigs.set(key, pending);
      pending.catch(() => {
        if (this._tlsConfigs.get(key) === pending) this._tlsConfigs.delete(key);
      });
      cfg = pending;
    }
    return cfg;
  }

  /**
   * SessionHost: waits for a program slot (-c). Ready connections queue in order; while
   * MAXHANDSHAKES of them wait, accepting pauses and further clients wait in the kernel backlog.
   */
  async acquireProgram(signal: AbortSignal): Promise<boolean> {
    const got = this.programs.acquire(signal);
    this._pauseOrResume();
    const ok = await got;
    this._pauseOrResume();
    if (ok) this._programSlotsChanged();
    return ok;
  }

  /** SessionHost: a free program slot, taken without waiting, when nobody is in line. */
  tryAcquireProgram(): boolean {
    if (!this.programs.tryAcquire()) return false;
    this._programSlotsChanged();
    return true;
  }

  /** A program slot was taken or freed: the `status: N/LIMIT` line, and activity for the heap policy. */
  private _programSlotsChanged(): void {
    this.log.logStatus(this.programs.running, this.programs.limit, this.limits.maxConIp);
    this._heap?.activity();
  }

  /** SessionHost: a program ended; its slot goes to the next connection in line. */
  releaseProgram(): void {
    this.programs.release();
    this._programSlotsChanged();
    this._pauseOrResume();
  }

  /** SessionHost: a program's output passed another RELAY_BULK_BYTES. */
  readonly bulkOutput = (): void => this._heap?.bulkOutput();

  /** SessionHost: a connection was released. */
  sessionEnded(): void {
    if (this._terminating && this.limits.total === 0) this._onIdle();
  }

  private _pauseOrResume(): void {
    if (this._terminating) return;
    if (this.programs.waiting >= this.handshakes.capacity) this._listener?.pause();
    else this._listener?.resume();
  }

  /**
   * SIGTERM: the port closes at once; exit 0 now if no session is open, else when the last ends.
   */
  terminate(): void {
    this._terminating = true;
    this._listener?.close();
    if (this.limits.total === 0) this._onIdle();
  }
}

// A positive decimal from the environment, else the default (unset, empty, 0 or junk).
function positiveOr(text: string | undefined, dflt: number): number {
  const n = text === undefined || !/^[0-9]+$/.test(text) ? 0 : Number(text);
  return n >= 1 ? n : dflt;
}
