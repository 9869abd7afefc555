// Closes descriptors sslserver inherited (not close-on-exec) so that no program can inherit them.
import { closeSync, readFileSync, readdirSync } from 'node:fs';

// <asm-generic/fcntl.h>: O_CLOEXEC is 02000000 (octal), as /proc/PID/fdinfo prints `flags:`
const O_CLOEXEC = 0o2000000;

/**
 * Closes every fd >= 3 that is not close-on-exec: those came from whoever started us (a
 * supervisor's pipe, a shell's stray fd), since Node opens all of its own with O_CLOEXEC.
 * The native spawn closes everything but the fd map anyway; this protects the
 * child_process fallback, whose libuv spawn passes such fds on (Linux only: /proc).
 * @returns the fds closed
 */
export function closeInheritedFds(): number[] {
  const closed: number[] = [];
  let entries: string[];
  try {
    entries = readdirSync('/proc/self/fdinfo');
  } catch {
    return closed;
  }
  for (const e of entries) {
    const fd = Number(e);
    if (!Number.isInteger(fd) || fd < 3) continue;
    try {
      const m = /^flags:\s+([0-7]+)$/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'latin1'));
      if (m?.[1] !== undefined && (parseInt(m[1], 8) & O_CLOEXEC) === 0) {
        closeSync(fd);
        closed.push(fd);
      }
    } catch {
      // the fd of the directory listing itself, or gone meanwhile
    }
  }
  return closed;
}
