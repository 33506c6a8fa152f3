import { QuotaStoreUnavailableError } from '../../errors.js';

const STORE_OVERLOADED_MARKER = Symbol.for('agentmetry.QuotaStoreOverloadedError');

/** Why the admission queue refused a run. */
export type OverloadReason = 'queue-full' | 'queue-timeout';

/**
 * The Redis store refused a run without asking Redis: its admission queue was full
 * (`maxQueueDepth`) or the run had waited in it longer than `maxQueueAgeMs`. A kind of
 * `QuotaStoreUnavailableError` (the run is denied the same way), with its own name and
 * `QuotaStoreOverloadedError.isInstance(error)`, so that a plain `QuotaStoreUnavailableError`
 * keeps meaning that Redis did not answer.
 */
export class QuotaStoreOverloadedError extends QuotaStoreUnavailableError {
  readonly reason: OverloadReason;

  constructor(store: string, reason: OverloadReason, detail: string) {
    super(store, undefined);
    this.name = 'QuotaStoreOverloadedError';
    this.reason = reason;
    this.message = `Quota store ${store} is overloaded; run denied without asking it (${detail})`;
    Object.defineProperty(this, STORE_OVERLOADED_MARKER, { value: true });
  }

  /** Also for an error made by another copy of the package, and when passed on detached. */
  static override isInstance(this: void, value: unknown): value is QuotaStoreOverloadedError {
    try {
      return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[STORE_OVERLOADED_MARKER] === true;
    } catch {
      return false;
    }
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return QuotaStoreOverloadedError.isInstance(value);
  }
}
