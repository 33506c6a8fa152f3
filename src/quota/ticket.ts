import type { QuotaExceededError } from '../errors.js';
import { isPromise } from '../is-promise.js';
import { logger, safeCall } from '../log.js';
import { Timers } from '../timers.js';
import type { QuotaLimits, QuotaMode } from '../types.js';
import type { Quota, ScopeRecord } from './quota.js';
import type { BudgetNode } from './store.js';

/** A soft threshold crossed, in user units (USD for `costUsd`). */
export interface QuotaWarning {
  readonly resource: 'executions' | 'tokens' | 'costUsd';
  readonly threshold: number;
  readonly scope: string;
  readonly used: number;
  readonly limit: number;
  /** The level of the scope, when the quota has `levels`. */
  readonly level?: string;
  /** The window whose limit this is; absent for a limit that never resets. */
  readonly window?: string;
}

/**
 * Where a quota reports what happens to one run. The quota decides; whoever runs the run
 * (the run pipeline) records it and stops the run. Implementations never throw.
 */
export interface QuotaRunEvents {
  /** A denial to count: the run or one of its model calls is refused, or the run stopped, or in observe mode would have been. */
  denied(error: QuotaExceededError, mode: QuotaMode): void;
  /** The run must stop (enforce mode): a per-run limit, the wall-time deadline, usage past a hard limit, or a refused model call. */
  stopped(error: QuotaExceededError): void;
  /** A soft threshold was crossed. */
  warned(warning: QuotaWarning): void;
}

/**
 * One admitted run's place in its quota: its scope, budget chain, limits and the store's lease,
 * and the timer of its duration limit. Owned by the quota; the run holds it
 * and reports its turns and usage to it.
 */
export class QuotaTicket {
  /** Settled or cancelled: the store has been told once. */
  #finished = false;
  /** A charge has passed a hard limit of this run's scopes or budgets. */
  #overrun = false;
  /** Armed only for a run with a duration limit. */
  #timers: Timers | undefined;
  /**
   * Once finished, the run's scope in every level when it has several (with one, `scope`): its
   * records may be forgotten and made over for other scopes then, so the quota finds them by name.
   */
  #scopes: readonly string[] | undefined;

  constructor(
    readonly quota: Quota,
    readonly scope: string,
    /** The run's scope in every level, outermost first (shared with its parent and children); valid until it finishes. */
    readonly records: readonly ScopeRecord[],
    readonly nodes: readonly BudgetNode[],
    /** The limits in force for this run: its scope's, narrowed by every budget above and of it. */
    readonly limits: QuotaLimits,
    readonly lease: unknown,
    /** Epoch ms at which a wall-time budget ends. */
    readonly deadline: number | undefined,
    readonly events: QuotaRunEvents,
  ) {}

  /** Watches the wall-time deadline and arms the per-run duration limit of a run that starts now. */
  start(startTime: number): void {
    if (this.deadline !== undefined) this.quota.deadlines.add(this, this.deadline);
    const maxDurationMs = this.limits.maxDurationMsPerRun;
    if (maxDurationMs !== undefined) {
      (this.#timers ??= new Timers()).after(maxDurationMs, () => this.quota.exceedRunLimit(this, 'duration', maxDurationMs, performance.now() - startTime, 0));
    }
  }

  /** `added` more turns, `total` in all: only the turn that crosses `maxTurnsPerRun` counts. */
  turns(total: number, added: number): void {
    const maxTurns = this.limits.maxTurnsPerRun;
    if (maxTurns !== undefined && total > maxTurns && total - added <= maxTurns) {
      this.quota.exceedRunLimit(this, 'turns', maxTurns, total - added, added);
    }
  }

  /** Charges recorded usage, in tokens and nano-dollars; also after the run ended (late usage counts). */
  charge(tokens: number, costNanos: number): void {
    const store = this.quota.store;
    const result = safeCall(logger, 'quota store charge', () => store.charge(this.lease, { tokens, costNanos }, Date.now()));
    if (isPromise(result)) {
      result.then(
        (violation) => this.quota.charged(this, violation),
        (error: unknown) => logger.error('quota store charge failed', error),
      );
    } else {
      this.quota.charged(this, result);
    }
  }

  /**
   * Holds the worst case of one model call, in tokens and nano-dollars. Resolves `true` once held,
   * `false` when nothing can be held (the store has no `hold`, or the run is settled): the call
   * is then only charged afterwards. Rejects with the `QuotaExceededError` that refuses the call
   * (the run is stopped too), or with `QuotaStoreUnavailableError` from a store set to deny.
   */
  async hold(tokens: number, costNanos: number): Promise<boolean> {
    const store = this.quota.store;
    if (store.hold === undefined || this.#finished) return false;
    const result = await store.hold(this.lease, { tokens, costNanos }, this.quota.mode === 'enforce', Date.now());
    if (result.violation !== undefined) this.quota.callRefused(this, result.violation, result.held);
    return result.held;
  }

  /** Gives back up to this much of what the ticket holds (a model call's worst case beyond its usage). Never throws. */
  release(tokens: number, costNanos: number): void {
    if (tokens === 0 && costNanos === 0) return;
    const store = this.quota.store;
    const result = safeCall(logger, 'quota store release', () => store.release?.(this.lease, { tokens, costNanos }, Date.now()));
    if (isPromise(result)) result.catch((error: unknown) => logger.error('quota store release failed', error));
  }

  /** Settled or cancelled. */
  get finished(): boolean {
    return this.#finished;
  }

  /** Once finished, the run's scope in every level, outermost first. */
  get scopes(): readonly string[] {
    return this.#scopes ?? [this.scope];
  }

  /** Whether this is the first charge to pass a limit: a run's overrun is one denial, however many charges follow. */
  firstOverrun(): boolean {
    if (this.#overrun) return false;
    this.#overrun = true;
    return true;
  }

  /** Releases what the run did not use, and its timers; the execution counts. Never throws. */
  settle(): void {
    this.#finish('settle');
  }

  /**
   * Gives back everything the ticket holds, its execution included: the run was admitted but
   * never started. A store without `cancel` settles instead. Never throws.
   */
  cancel(): void {
    this.#finish(this.quota.store.cancel === undefined ? 'settle' : 'cancel');
  }

  #finish(operation: 'settle' | 'cancel'): void {
    if (this.#finished) return;
    if (this.records.length > 1) this.#scopes = this.records.map((record) => record.scope);
    this.#finished = true;
    this.#timers?.clear();
    if (this.deadline !== undefined) this.quota.deadlines.remove(this, this.deadline);
    const store = this.quota.store;
    const now = Date.now();
    const result = safeCall(logger, `quota store ${operation}`, () =>
      operation === 'cancel' ? store.cancel!(this.lease, now) : store.settle(this.lease, now),
    );
    this.quota.finished(this);
    if (isPromise(result)) result.catch((error: unknown) => logger.error(`quota store ${operation} failed`, error));
  }
}
