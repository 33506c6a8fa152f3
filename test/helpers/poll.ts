/** The test suite's one polling helper: waiting for a condition, never for a fixed time. */

export interface WaitOptions {
  /** Give up after this long. Default 60 s. */
  timeoutMillis?: number;
  /** Between probes. Default 250 ms. */
  intervalMillis?: number;
  /** Added to the timeout error (a log tail, the last state seen). */
  describe?: () => string;
}

/**
 * Polls `probe` until it returns a value other than undefined, or fails after `timeoutMillis`
 * with the last probe error and `describe()`. A wait, never an assertion on timing.
 */
export async function waitFor<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, options: WaitOptions = {}): Promise<T> {
  const deadline = Date.now() + (options.timeoutMillis ?? 60_000);
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      const cause = lastError instanceof Error ? `: ${lastError.message}` : '';
      throw new Error(`timed out waiting for ${what}${cause}${options.describe ? `\n${options.describe()}` : ''}`);
    }
    await new Promise<void>((resolve) => setTimeout(resolve, options.intervalMillis ?? 250));
  }
}
