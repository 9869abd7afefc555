// The shared memory of several event loops and the views each loop (main thread or worker) makes of it.
import { SharedConnectionLimits, tableEntriesFor } from '../listen/shared-limits';
import { SharedProgramSlots } from '../listen/shared-program-slots';
import type { ServerConfig } from './config';
import type { EventLoopShare } from './server';

/** Shared memory of every loop of one server (structured-cloned to the workers as is). */
export interface LoopMemory {
  /** MAXCONIP: open connections per address. */
  readonly limits: SharedArrayBuffer;
  /** -c: programs running. */
  readonly slots: SharedArrayBuffer;
  /** MAXHANDSHAKESIP: handshake-table entries per address. */
  readonly handshakeIps: SharedArrayBuffer;
}

/**
 * Allocates the shared memory for a server's loops.
 * @param fdBudget handshake places the fd limit allows (handshakeFdBudget), undefined: unknown
 * @returns zeroed memory; the per-address tables hold every connection the fd limit allows
 */
export function allocateLoopMemory(fdBudget: number | undefined): LoopMemory {
  const places = fdBudget ?? 1 << 15;
  return {
    // connections: up to the whole fd budget (twice the handshake places)
    limits: SharedConnectionLimits.allocate(tableEntriesFor(2 * places)),
    slots: SharedProgramSlots.allocate(),
    handshakeIps: SharedConnectionLimits.allocate(tableEntriesFor(places)),
  };
}

/**
 * One loop's view of the shared state, for SslServer.
 * @param memory from allocateLoopMemory (the same for every loop)
 * @param config the server's configuration (-c, MAXCONIP)
 * @param loops how many loops serve the port
 * @param ticketKeys the session ticket keys of every loop
 * @param onIdle called when SIGTERM was handled and this loop's last session ended
 * @returns the share for `new SslServer(..., share)`
 */
export function loopShare(memory: LoopMemory, config: ServerConfig, loops: number, ticketKeys: Buffer, onIdle: () => void): EventLoopShare {
  return {
    ticketKeys,
    loops,
    limits: new SharedConnectionLimits(memory.limits, config.limit, config.maxConIp),
    programs: new SharedProgramSlots(memory.slots, config.limit),
    handshakeIpCounts: new SharedConnectionLimits(memory.handshakeIps, config.limit, 0),
    onIdle,
  };
}
