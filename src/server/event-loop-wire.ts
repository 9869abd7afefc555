// What the main thread and the other event loops (worker threads) of one sslserver tell each other.
import type { ServerConfig } from './config';
import type { BoundSocket } from '../listen/listener';
import type { SpawnerChannel } from '../priv/spawner-client';
import type { TlsMaterial } from '../tls/context';
import type { TlsSettings } from '../tls/settings';
import type { Verbosity } from '../log/log';
import type { LoopMemory } from './loop-share';

/** Everything a worker loop starts from (structured-cloned into the thread). */
export interface EventLoopData {
  readonly config: ServerConfig;
  readonly verbosity: Verbosity;
  /** The start-up TLS files, already read and checked by the main thread. */
  readonly settings: TlsSettings;
  readonly material: TlsMaterial;
  /** -3 without a key helper: per-rule keys are read in the loop with it. */
  readonly password?: Buffer;
  /** Per-rule TLS files come through the main thread's key helper (LoopRequest 'load'). */
  readonly viaKeyHelper: boolean;
  readonly ticketKeys: Buffer;
  /** The shared -c, MAXCONIP and MAXHANDSHAKESIP counts (allocateLoopMemory). */
  readonly memory: LoopMemory;
  readonly loops: number;
  /** This loop's listening socket (SO_REUSEPORT, bound by the main thread). */
  readonly bound: BoundSocket;
  /** This loop's own spawner channel (root start): programs go through it. */
  readonly spawner?: SpawnerChannel;
  /** Root start being dropped: empty this thread's capability bounding set before 'ready'. */
  readonly dropBoundingSet: boolean;
}

/** Worker loop to main thread. */
export type LoopReport =
  | { readonly kind: 'ready' }
  | { readonly kind: 'failed'; readonly message: string }
  /** SIGTERM handled and the loop's last session ended. */
  | { readonly kind: 'idle' }
  /** A rule's TLS files, through the key helper. */
  | { readonly kind: 'load'; readonly id: number; readonly settings: TlsSettings };

/** Main thread to worker loop. */
export type LoopOrder =
  | { readonly kind: 'terminate' }
  | { readonly kind: 'loaded'; readonly id: number; readonly material: TlsMaterial }
  | { readonly kind: 'load-failed'; readonly id: number; readonly message: string; readonly errorKind: 'fatal' | 'error' };
