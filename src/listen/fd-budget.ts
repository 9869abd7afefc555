// How many connections the handshake table may hold given RLIMIT_NOFILE, so that a flood cannot use every fd.
import { readFileSync, readdirSync } from 'node:fs';

/** Never fewer handshake places than this, however tight the fd limit. */
export const MIN_HANDSHAKE_FDS = 8;

/**
 * Half of the file descriptors still free under the soft RLIMIT_NOFILE (Linux: /proc/self/limits
 * and /proc/self/fd), at least MIN_HANDSHAKE_FDS: the other half stays for programs (socket,
 * two pipes and a pidfd each), rules files and lookups. Out of fds, accept(2) fails and nobody
 * new is served (the listener waits, src/listen/listener.ts), a normal client no more than an
 * attacker; a table bounded below the limit makes the flood evict itself instead.
 * @returns the bound, or undefined when the limit is unknown or unlimited
 */
export function handshakeFdBudget(): number | undefined {
  let limits: string;
  let open: number;
  try {
    limits = readFileSync('/proc/self/limits', 'latin1');
    open = readdirSync('/proc/self/fd').length;
  } catch {
    return undefined;
  }
  const m = /^Max open files\s+(\S+)/m.exec(limits);
  if (m === null || !/^[0-9]+$/.test(m[1] as string)) return undefined;
  return Math.max(MIN_HANDSHAKE_FDS, Math.floor((Number(m[1]) - open) / 2));
}
