// One bounded wait: a promise raced against a deadline and the connection's abort signal.

/**
 * Waits for `work` at most `ms` milliseconds and no longer than `signal` stays unaborted.
 * The work itself is not cancelled (its own bound ends it); only this wait ends. A rejection
 * of `work` counts as "no result", as every lookup failure leaves its variable unset.
 * @param work the lookup in progress
 * @param ms the deadline in milliseconds
 * @param signal aborted when the connection is gone
 * @returns the value, or undefined on rejection, timeout or abort
 * @example
 * ```ts
 * const name = await withDeadline(resolver.resolvePtr(q), 5000, signal);
 * ```
 */
export function withDeadline<T>(work: Promise<T>, ms: number, signal?: AbortSignal): Promise<T | undefined> {
  if (signal?.aborted === true) {
    work.catch(() => undefined);
    return Promise.resolve(undefined);
  }
  return new Promise<T | undefined>((resolve) => {
    const done = (value: T | undefined): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      resolve(value);
    };
    const onAbort = (): void => done(undefined);
    const timer = setTimeout(() => done(undefined), ms);
    signal?.addEventListener('abort', onAbort, { once: true });
    work.then(done, () => done(undefined));
  });
}
