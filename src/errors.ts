import type { QuotaResource } from './semconv.js';

const QUOTA_EXCEEDED_MARKER = Symbol.for('agentmetry.QuotaExceededError');
const STORE_UNAVAILABLE_MARKER = Symbol.for('agentmetry.QuotaStoreUnavailableError');

/** Whether `value` carries `marker`: recognises an error made by another copy of the package. Never throws (a revoked Proxy is no error of ours). */
function hasMarker(value: unknown, marker: symbol): boolean {
  try {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[marker] === true;
  } catch {
    return false;
  }
}

export interface QuotaExceededDetails {
  /** Which budget tripped: `executions`, `tokens`, `costUsd`, `wallTimeMs`, `concurrent`, `depth`, `turns` or `duration`. */
  resource: QuotaResource;
  /** The scope whose budget tripped (`global`, a conversation id, or the key of a run budget). */
  scope: string;
  /** The configured limit, in the resource's unit (USD for `costUsd`). */
  limit: number;
  /** Consumed plus reserved at the moment of the decision. */
  used: number;
  /** What the run asked for (its reservation, or the usage that crossed the limit). */
  requested: number;
  /** The quota level whose scope tripped, when the quota has `levels`. */
  level?: string;
  /** The window whose limit tripped (`day`, `rolling:1h`, ...); absent for a limit that never resets. */
  window?: string;
}

/**
 * A quota denied a run, or stopped one that went past a hard limit. Policy, not failure:
 * recognise it with `QuotaExceededError.isInstance(error)`, which also works across two
 * copies of the package in one app.
 */
export class QuotaExceededError extends Error implements QuotaExceededDetails {
  readonly resource: QuotaResource;
  readonly scope: string;
  readonly limit: number;
  readonly used: number;
  readonly requested: number;
  readonly level: string | undefined;
  readonly window: string | undefined;

  constructor(details: QuotaExceededDetails) {
    const where = `${details.level === undefined ? '' : `level ${details.level}, `}scope ${details.scope}${details.window === undefined ? '' : `, window ${details.window}`}`;
    super(`Quota exceeded: ${details.resource} ${formatAmount(details.used + details.requested)}/${formatAmount(details.limit)} (${where})`);
    this.name = 'QuotaExceededError';
    this.resource = details.resource;
    this.scope = details.scope;
    this.limit = details.limit;
    this.used = details.used;
    this.requested = details.requested;
    this.level = details.level;
    this.window = details.window;
    Object.defineProperty(this, QUOTA_EXCEEDED_MARKER, { value: true });
  }

  /** Also when passed on detached, as in `errors.filter(QuotaExceededError.isInstance)`. */
  static isInstance(this: void, value: unknown): value is QuotaExceededError {
    return hasMarker(value, QUOTA_EXCEEDED_MARKER);
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return QuotaExceededError.isInstance(value);
  }
}

/**
 * The quota store could not be reached and is configured to deny (`onUnavailable: 'deny'`).
 * Like `QuotaExceededError`, recognise it with `QuotaStoreUnavailableError.isInstance(error)`,
 * which also works across two copies of the package in one app.
 */
export class QuotaStoreUnavailableError extends Error {
  readonly store: string;
  constructor(store: string, cause: unknown) {
    super(`Quota store ${store} is unavailable; run denied (onUnavailable: 'deny')`, { cause });
    this.name = 'QuotaStoreUnavailableError';
    this.store = store;
    Object.defineProperty(this, STORE_UNAVAILABLE_MARKER, { value: true });
  }

  /** Also when passed on detached, as in `errors.filter(QuotaStoreUnavailableError.isInstance)`. */
  static isInstance(this: void, value: unknown): value is QuotaStoreUnavailableError {
    return hasMarker(value, STORE_UNAVAILABLE_MARKER);
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return QuotaStoreUnavailableError.isInstance(value);
  }
}

function formatAmount(value: number): string {
  return Number.isInteger(value) ? String(value) : String(Number(value.toFixed(6)));
}

/** A run refused by policy: over a quota, or a shared store that could not decide and denies. */
export function isQuotaRefusal(error: unknown): boolean {
  return QuotaExceededError.isInstance(error) || QuotaStoreUnavailableError.isInstance(error);
}
