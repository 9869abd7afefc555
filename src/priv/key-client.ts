// The server's end of the key helper: starts it, then asks it for TLS material, each request bounded in time.
import net from 'node:net';
import path from 'node:path';
import { ConfigError, TimeoutError } from '../errors';
import * as native from '../sys/native';
import type { TlsMaterial } from '../tls/context';
import type { TlsSettings } from '../tls/settings';
import { encodeFrame, FrameReader } from './frame';
import type { Identity } from './identity';
import { KEY_REPLY_MAX_BYTES, type KeyReply, type KeyRequest, materialFromWire } from './key-wire';

/** Longest wait for the helper's set-up or for one load (a CADIR of thousands of files fits). */
export const KEY_HELPER_TIMEOUT_MS = 10_000;
/** The message of every request after the helper died. */
export const KEY_HELPER_GONE = 'key helper is gone';

/** How the helper is confined. */
export interface KeyHelperOptions {
  /** SSL_CHROOT: the helper's root (paths in requests are inside it). */
  readonly chroot?: string;
  /** The identity it runs as. */
  readonly identity: Identity;
  /** `-3` password, kept by the helper for encrypted keys. */
  readonly password?: Buffer;
  /** Longest wait per request; default KEY_HELPER_TIMEOUT_MS. */
  readonly timeoutMs?: number;
}

interface Pending {
  resolve(reply: KeyReply): void;
  reject(err: Error): void;
}

/** A running key helper (src/priv/key-helper.ts) and its channel. */
export class KeyHelper {
  private readonly _pending: (Pending | undefined)[] = [];
  private _gone = false;

  private constructor(
    /** The helper's pid (for tests and logs). */
    readonly pid: number,
    private readonly _channel: net.Socket,
    private readonly _timeoutMs: number,
  ) {
    const reader = new FrameReader(KEY_REPLY_MAX_BYTES);
    _channel.on('data', (chunk: Buffer) => {
      let replies: unknown[];
      try {
        replies = reader.push(chunk);
      } catch {
        _channel.destroy();
        return;
      }
      for (const r of replies) this._pending.shift()?.resolve(r as KeyReply);
      // the channel keeps the server alive only while an answer is awaited
      if (this._pending.length === 0) _channel.unref();
    });
    const gone = (): void => {
      this._gone = true;
      for (const p of this._pending.splice(0)) p?.reject(new Error(KEY_HELPER_GONE));
    };
    _channel.on('close', gone);
    _channel.on('error', () => undefined);
  }

  /**
   * Starts the helper (as root: it chroots and drops itself) and waits until it is confined.
   * @param opts its root, identity and password
   * @returns the helper, ready for `load`
   * @throws ConfigError with the helper's reason (`unable to chroot to: DIR`) or
   *   `key helper is gone`; TimeoutError when it does not answer in time; SysError from spawning
   */
  static async start(opts: KeyHelperOptions): Promise<KeyHelper> {
    const [ours, theirs] = native.socketpair();
    let child;
    try {
      child = native.spawnChild({
        file: process.execPath,
        argv: [process.execPath, path.join(__dirname, 'key-helper.js')],
        env: [
          `SSLSERVER_KEY_UID=${opts.identity.uid}`,
          `SSLSERVER_KEY_GID=${opts.identity.gid}`,
          ...(opts.chroot === undefined ? [] : [`SSLSERVER_KEY_CHROOT=${opts.chroot}`]),
        ],
        fds: [-1, -1, 2, theirs],
      });
    } catch (err) {
      native.close(ours);
      throw err;
    } finally {
      native.close(theirs);
    }
    // neither the helper nor its channel keeps the server running
    child.setRef(false);
    const channel = new net.Socket({ fd: ours, readable: true, writable: true });
    channel.unref();
    const helper = new KeyHelper(child.pid, channel, opts.timeoutMs ?? KEY_HELPER_TIMEOUT_MS);
    const ready = await helper._await();
    if (ready.kind !== 'ready') throw new ConfigError('key helper broke the protocol');
    if (!ready.ok) throw new ConfigError(ready.message);
    if (opts.password !== undefined) helper._send({ kind: 'password', password: opts.password.toString('base64') });
    return helper;
  }

  /**
   * Loads and checks the files `settings` names, inside the helper's root, as its identity.
   * @param settings from tlsSettingsFromEnv
   * @returns the material
   * @throws ConfigError with loadTlsMaterial's message, or `key helper is gone`;
   *   TimeoutError when the helper does not answer within the time limit
   */
  async load(settings: TlsSettings): Promise<TlsMaterial> {
    const req: KeyRequest = { kind: 'load', settings };
    const wait = this._await();
    this._send(req);
    const reply = await wait;
    if (reply.kind !== 'material') throw new ConfigError('key helper broke the protocol');
    if (!reply.ok) throw new ConfigError(reply.message);
    return materialFromWire(reply.material);
  }

  /** Ends the channel; the helper exits at EOF. */
  close(): void {
    this._channel.end();
  }

  private _send(req: KeyRequest): void {
    this._channel.write(encodeFrame(req));
  }

  // Replies come in request order; a request that timed out keeps its slot (its reply is
  // dropped when it comes) so the next one still gets its own.
  private _await(): Promise<KeyReply> {
    if (this._gone) return Promise.reject(new ConfigError(KEY_HELPER_GONE));
    return new Promise<KeyReply>((resolve, reject) => {
      const slot: Pending = {
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(new ConfigError(e.message));
        },
      };
      this._pending.push(slot);
      this._channel.ref();
      const timer = setTimeout(() => {
        const at = this._pending.indexOf(slot);
        if (at !== -1) this._pending[at] = { resolve: () => undefined, reject: () => undefined };
        reject(new TimeoutError('key helper did not answer'));
      }, this._timeoutMs);
      timer.unref();
    });
  }
}
