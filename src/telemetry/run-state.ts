import type { Context, Span } from '@opentelemetry/api';
import { logger } from '../log.js';
import type { QuotaExceededError } from '../errors.js';
import type { QuotaProcessor, QuotaRun } from '../quota/processor.js';
import type { BudgetNode, QuotaLease } from '../quota/store.js';
import { ERROR_TYPE_ABORTED, ERROR_TYPE_QUOTA_EXCEEDED, ERROR_TYPE_TIMEOUT, type Outcome } from '../semconv.js';
import type { QuotaLimits, Run, Usage } from '../types.js';
import type { SeriesStats } from './series.js';
import { microsToUsd, usdToMicros } from '../money.js';

/** setTimeout's largest delay; longer waits are armed in steps. */
const MAX_TIMER_MS = 2_147_483_647;

/** Why a run's signal fired; decides its outcome. */
export interface StopReason {
  outcome: Extract<Outcome, 'timeout' | 'aborted' | 'incomplete'>;
  errorType: string;
}

/** What a run reports back to its meter while it records. */
export interface RunOwner {
  readonly strict: boolean;
  readonly quota: QuotaProcessor | undefined;
  /** Usage that arrives after the run ended still counts. */
  recordLateUsage(run: RunState, inputTokens: number, outputTokens: number): void;
}

/**
 * The state of one execution: the handle its function receives, and everything the meter
 * needs at its end. Owned by AgentMeter; released on every exit path.
 */
export class RunState implements Run, QuotaRun {
  turns = 0;
  inputTokens = 0;
  outputTokens = 0;
  costMicros = 0;
  usageRecorded = false;
  model: string | undefined;
  ended = false;
  stopReason: StopReason | undefined;
  context!: Context;
  readonly startTime = performance.now();

  quotaOwner: QuotaProcessor | undefined;
  scope: string | undefined;
  quotaNodes: readonly BudgetNode[] | undefined;
  effectiveLimits: QuotaLimits | undefined;
  lease: QuotaLease | undefined;
  deadline: number | undefined;

  #controller: AbortController | undefined;
  #timers: NodeJS.Timeout[] | undefined;
  /** Signals this run's signal follows (the caller's, the parent run's), with their listeners. */
  #links: [AbortSignal, () => void][] | undefined;

  constructor(
    private readonly owner: RunOwner,
    readonly name: string,
    readonly depth: number,
    readonly conversationId: string | undefined,
    readonly parent: RunState | undefined,
    readonly span: Span,
    readonly series: SeriesStats,
  ) {}

  /** A run is its own frame in the run storage. */
  get run(): RunState {
    return this;
  }

  get metricAgent(): string {
    return this.series.agent;
  }

  get costUsd(): number {
    return microsToUsd(this.costMicros);
  }

  /** Created on first use: most runs never look at their signal. */
  get signal(): AbortSignal {
    return (this.#controller ??= new AbortController()).signal;
  }

  recordTurn(count = 1): void {
    if (!Number.isInteger(count) || count < 0) {
      this.#invalid(`recordTurn(${String(count)}): the count must be a non-negative integer`);
      return;
    }
    if (this.ended) {
      logger.debug(`run '${this.name}' recorded ${count} turn(s) after it ended; dropped`);
      return;
    }
    this.turns += count;
    const maxTurns = this.effectiveLimits?.maxTurnsPerRun;
    // Only the turn that crosses the limit counts (observe mode never stops the run).
    if (maxTurns !== undefined && this.turns > maxTurns && this.turns - count <= maxTurns && this.stopReason === undefined) {
      this.owner.quota?.exceedRunLimit(this, 'turns', maxTurns, this.turns - count, count);
    }
  }

  recordUsage(usage: Usage): void {
    const problem = usageProblem(usage);
    if (problem !== undefined) {
      this.#invalid(`recordUsage: ${problem}`);
      return;
    }
    const inputTokens = usage.inputTokens ?? 0;
    const outputTokens = usage.outputTokens ?? 0;
    const costMicros = usage.costUsd === undefined ? 0 : usdToMicros(usage.costUsd);
    this.inputTokens += inputTokens;
    this.outputTokens += outputTokens;
    this.costMicros += costMicros;
    this.usageRecorded = true;
    if (this.model === undefined && usage.model !== undefined) this.model = usage.model;
    const series = this.series;
    series.inputTokens += inputTokens;
    series.outputTokens += outputTokens;
    if (usage.costUsd !== undefined) {
      series.costMicros += costMicros;
      series.costKnown = true;
    }
    if (this.ended) this.owner.recordLateUsage(this, inputTokens, outputTokens);
    this.owner.quota?.charge(this, inputTokens + outputTokens, costMicros);
  }

  stop(reason: QuotaExceededError): void {
    this.#abort({ outcome: 'incomplete', errorType: ERROR_TYPE_QUOTA_EXCEEDED }, reason);
  }

  /**
   * Starts the timers and signal links a run needs; called once it is admitted. The run's
   * signal follows the caller's signal and its parent run's, so cancelling a run cancels
   * everything nested in it.
   */
  arm(callerSignal: AbortSignal | undefined, timeoutMs: number | undefined): void {
    if (callerSignal !== undefined) this.#follow(callerSignal);
    if (this.parent !== undefined && !this.parent.ended) this.#follow(this.parent.signal);
    if (this.stopReason !== undefined) return;
    if (timeoutMs !== undefined) {
      this.#after(timeoutMs, () =>
        this.#abort(
          { outcome: 'timeout', errorType: ERROR_TYPE_TIMEOUT },
          new DOMException(`run '${this.name}' timed out after ${timeoutMs} ms`, 'TimeoutError'),
        ),
      );
    }
    const quota = this.owner.quota;
    if (quota === undefined) return;
    if (this.deadline !== undefined) {
      // +1 ms: when the timer fires, Date.now() (whole ms, what admission compares) has passed the deadline too.
      this.#after(this.deadline - Date.now() + 1, () => quota.exceedWallTime(this));
    }
    const maxDurationMs = this.effectiveLimits?.maxDurationMsPerRun;
    if (maxDurationMs !== undefined) {
      this.#after(maxDurationMs, () => quota.exceedRunLimit(this, 'duration', maxDurationMs, performance.now() - this.startTime, 0));
    }
  }

  /** Marks the run ended and releases its timers and listeners. */
  release(): void {
    this.ended = true;
    if (this.#timers !== undefined) for (const timer of this.#timers) clearTimeout(timer);
    if (this.#links !== undefined) for (const [signal, onAbort] of this.#links) signal.removeEventListener('abort', onAbort);
  }

  #follow(signal: AbortSignal): void {
    const onAbort = () => this.#abort({ outcome: 'aborted', errorType: ERROR_TYPE_ABORTED }, signal.reason);
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    (this.#links ??= []).push([signal, onAbort]);
  }

  /** Calls `callback` after `delayMs`, also beyond setTimeout's range (about 24.8 days), never keeping the process alive. */
  #after(delayMs: number, callback: () => void): void {
    const due = performance.now() + Math.max(0, delayMs);
    const arm = () => {
      const remaining = Math.max(0, due - performance.now());
      const timer = setTimeout(remaining > MAX_TIMER_MS ? arm : callback, Math.min(remaining, MAX_TIMER_MS));
      timer.unref();
      (this.#timers ??= []).push(timer);
    };
    arm();
  }

  #abort(stopReason: StopReason, reason: unknown): void {
    if (this.ended || this.stopReason !== undefined) return;
    this.stopReason = stopReason;
    (this.#controller ??= new AbortController()).abort(reason);
  }

  #invalid(message: string): void {
    if (this.owner.strict) throw new TypeError(`agentmetry: run '${this.name}' ${message}`);
    logger.warn(`run '${this.name}' ${message}; dropped`);
  }
}

function usageProblem(usage: Usage): string | undefined {
  if (typeof usage !== 'object' || usage === null) return 'usage must be an object';
  for (const field of ['inputTokens', 'outputTokens'] as const) {
    const value = usage[field];
    if (value !== undefined && !(Number.isInteger(value) && value >= 0)) {
      return `${field} must be a non-negative integer, got ${String(value)}`;
    }
  }
  const cost = usage.costUsd;
  if (cost !== undefined && !(typeof cost === 'number' && Number.isFinite(cost) && cost >= 0)) {
    return `costUsd must be a non-negative finite number, got ${String(cost)}`;
  }
  if (usage.model !== undefined && typeof usage.model !== 'string') return `model must be a string, got ${typeof usage.model}`;
  return undefined;
}
