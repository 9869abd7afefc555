// Ending a connection's program: a grace period to exit by itself, then SIGTERM, then SIGKILL.
import type { ChildHandle } from './spawn';

/**
 * After a session ended normally, how long the program may take to exit by itself. It has
 * usually closed its stdout on its way out already (coreutils close stdout in an atexit
 * handler, before _exit): a SIGTERM sent at once would kill it in that window (status 15
 * for a program that did nothing wrong, which is what the reference does).
 */
export const EXIT_GRACE_MS = 2000;
/** After SIGTERM, how long before SIGKILL: every wait is bounded. */
export const KILL_GRACE_MS = 5000;

/**
 * Waits for `child` to exit, sending SIGTERM after `graceMs` and SIGKILL KILL_GRACE_MS later.
 * @param child the program
 * @param graceMs 0 to send SIGTERM at once (session aborted: idle, TLS error, rejection)
 * @returns its raw wait status
 */
export async function stopProgram(child: ChildHandle, graceMs: number): Promise<number> {
  let exited = false;
  void child.exited.then(() => {
    exited = true;
  });
  const after = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      if (ms <= 0) return resolve();
      const t = setTimeout(resolve, ms);
      void child.exited.then(() => {
        clearTimeout(t);
        resolve();
      });
    });
  await after(graceMs);
  if (!exited) {
    child.kill('SIGTERM');
    await after(KILL_GRACE_MS);
    if (!exited) child.kill('SIGKILL');
  }
  return child.exited;
}
