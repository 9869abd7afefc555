// A running sslserver: the listener, the limits, the TLS configurations, and SIGTERM.
import { readFileSync } from 'node:fs';
import type net from 'node:net';
import type { Log } from '../log/log';
import { ConnectionLimits } from '../listen/limits';
import { Listener, type ListenerOptions } from '../listen/listener';
import { tlsSettingsFromEnv } from '../tls/settings';
import { createServerContext, loadTlsMaterial, type ServerTlsConfig } from '../tls/context';
import type { ServerConfig } from './config';
import { handleConnection, type SessionHost } from './session';
import { Lookups } from '../lookup/identify';
import { resolverServersFromEnv } from '../lookup/resolver-servers';

// Variables a rule may set to change the TLS set-up of its connections.
const TLS_VARIABLES = ['CERTFILE', 'KEYFILE', 'CERTCHAINFILE', 'DHFILE', 'CIPHERS', 'CAFILE', 'CADIR', 'CCAFILE', 'VERIFYDEPTH'] as const;
// Distinct per-rule TLS set-ups kept loaded; beyond that the oldest is dropped.
const MAX_TLS_CONFIGS = 64;

/** The server: owns the listener and every session's slot. */
export class SslServer implements SessionHost {
  readonly limits: ConnectionLimits;
  readonly lookups: Lookups;
  readonly serverPid = process.pid;
  private _listener: Listener | undefined;
  private _terminating = false;
  private readonly _tlsConfigs = new Map<string, ServerTlsConfig>();

  /**
   * @param config the start-up decisions
   * @param log the log
   * @param baseTls the TLS set-up from the start-up environment (already loaded: errors were fatal)
   * @param password the key password read from fd 3 (-3), reused for per-rule keys
   */
  constructor(
    readonly config: ServerConfig,
    readonly log: Log,
    private readonly _baseTls: ServerTlsConfig,
    private readonly _password?: Buffer,
  ) {
    this.limits = new ConnectionLimits(config.limit, config.maxConIp);
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
    this._listener = await Listener.open(opts, (socket: net.Socket) => handleConnection(this, socket));
    return this._listener;
  }

  /** SessionHost: the TLS set-up for a connection whose rule set `ruleEnv`. */
  tlsFor(ruleEnv: ReadonlyMap<string, string>): ServerTlsConfig {
    if (!TLS_VARIABLES.some((v) => ruleEnv.has(v))) return this._baseTls;
    const env: Record<string, string | undefined> = {};
    for (const v of TLS_VARIABLES) env[v] = ruleEnv.get(v) ?? this.config.baseEnv.get(v);
    const key = JSON.stringify(env);
    let cfg = this._tlsConfigs.get(key);
    if (cfg === undefined) {
      const settings = tlsSettingsFromEnv(env, this.config.clientCert);
      cfg = createServerContext(loadTlsMaterial(settings, (p) => readFileSync(p), this._password), settings);
      if (this._tlsConfigs.size >= MAX_TLS_CONFIGS) this._tlsConfigs.delete(this._tlsConfigs.keys().next().value as string);
      this._tlsConfigs.set(key, cfg);
    }
    return cfg;
  }

  /** SessionHost: a session was counted. */
  sessionStarted(): void {
    this.log.logStatus(this.limits.total, this.limits.limit, this.limits.maxConIp);
    if (this.limits.full) this._listener?.pause();
  }

  /** SessionHost: a session ended. */
  sessionEnded(): void {
    this.log.logStatus(this.limits.total, this.limits.limit, this.limits.maxConIp);
    if (this._terminating) {
      if (this.limits.total === 0) process.exit(0);
      return;
    }
    if (!this.limits.full) this._listener?.resume();
  }

  /**
   * SIGTERM: the port closes at once; exit 0 now if no session is open, else when the last ends.
   */
  terminate(): void {
    this._terminating = true;
    this._listener?.close();
    if (this.limits.total === 0) process.exit(0);
  }
}
