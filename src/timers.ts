/** setTimeout's largest delay; longer waits are armed in steps. */
const MAX_TIMER_MS = 2_147_483_647;

/**
 * The timers of one owner (a run, a quota ticket), cleared together. Delays beyond setTimeout's
 * range (about 24.8 days) are armed in steps; no timer keeps the process alive.
 */
export class Timers {
  #timers: NodeJS.Timeout[] | undefined;

  /** Calls `callback` after `delayMs` (at once for a negative delay). */
  after(delayMs: number, callback: () => void): void {
    const due = performance.now() + Math.max(0, delayMs);
    const arm = () => {
      const remaining = Math.max(0, due - performance.now());
      const timer = setTimeout(remaining > MAX_TIMER_MS ? arm : callback, Math.min(remaining, MAX_TIMER_MS));
      timer.unref();
      (this.#timers ??= []).push(timer);
    };
    arm();
  }

  clear(): void {
    if (this.#timers === undefined) return;
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers = undefined;
  }
}
