import { setMaxListeners } from 'node:events';
import type { Context, Span } from '@opentelemetry/api';
import type { QuotaExceededError } from '../errors.js';
import { isObject } from '../is-object.js';
import { logger } from '../log.js';
import { microsToUsd, usdToMicros } from '../money.js';
import type { QuotaTicket } from '../quota/ticket.js';
import { ERROR_TYPE_ABORTED, ERROR_TYPE_QUOTA_EXCEEDED, ERROR_TYPE_TIMEOUT, type Outcome } from '../semconv.js';
import type { RunRecord, RunTelemetry } from '../telemetry/run-telemetry.js';
import type { SeriesStats } from '../telemetry/series.js';
import { Timers } from '../timers.js';
import type { Run, Usage } from '../types.js';

/** Why a run's signal fired; decides its outcome. */
export interface StopReason {
  outcome: Extract<Outcome, 'timeout' | 'aborted' | 'incomplete'>;
  errorType: string;
}

/**
 * The handle a run's function receives (`Run`), and the one owner of a run's state: what it
 * counted (turns, tokens, cost), its signal and timers, its telemetry record and its quota
 * ticket. It counts and forwards; what a count means is telemetry's and the quota's business.
 */
export class RunHandle implements Run {
  turns = 0;
  inputTokens = 0;
  outputTokens = 0;
  costMicros = 0;
  usageRecorded = false;
  model: string | undefined;
  ended = false;
  stopReason: StopReason | undefined;
  /** Set once the quota admitted the run. */
  ticket: QuotaTicket | undefined;
  readonly startTime = performance.now();
  readonly span: Span;
  readonly context: Context;
  readonly series: SeriesStats;

  readonly #telemetry: RunTelemetry;
  readonly #strict: boolean;
  #controller: AbortController | undefined;
  /** Armed only for a run with a timeout. */
  #timers: Timers | undefined;
  /** Signals this run's signal follows (the caller's, the parent run's), with their listeners. */
  #links: Array<[AbortSignal, () => void]> | undefined;

  constructor(
    telemetry: RunTelemetry,
    strict: boolean,
    record: RunRecord,
    readonly name: string,
    readonly depth: number,
    readonly conversationId: string | undefined,
    readonly parent: RunHandle | undefined,
    model: string | undefined,
  ) {
    this.#telemetry = telemetry;
    this.#strict = strict;
    this.span = record.span;
    this.context = record.context;
    this.series = record.series;
    this.model = model;
  }

  /** A run is its own frame in the run storage. */
  get run(): this {
    return this;
  }

  get scope(): string | undefined {
    return this.ticket?.scope;
  }

  get costUsd(): number {
    return microsToUsd(this.costMicros);
  }

  /** Created on first use: most runs never look at their signal. */
  get signal(): AbortSignal {
    return this.#ownController().signal;
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
    // A run already stopping for another reason is not stopped (or counted) again.
    if (this.stopReason === undefined) this.ticket?.turns(this.turns, count);
  }

  recordUsage(usage: Usage): void {
    const problem = usageProblem(usage);
    if (problem !== undefined) {
      this.#invalid(`recordUsage: ${problem}`);
      return;
    }
    const inputTokens = usage.inputTokens ?? 0;
    const outputTokens = usage.outputTokens ?? 0;
    const costMicros = usage.costUsd === undefined ? undefined : usdToMicros(usage.costUsd);
    this.inputTokens += inputTokens;
    this.outputTokens += outputTokens;
    this.costMicros += costMicros ?? 0;
    this.usageRecorded = true;
    if (this.model === undefined && usage.model !== undefined) this.model = usage.model;
    this.#telemetry.addUsage(this.series, inputTokens, outputTokens, costMicros);
    if (this.ended) this.#telemetry.recordLateUsage(this.series, inputTokens, outputTokens);
    this.ticket?.charge(inputTokens + outputTokens, costMicros ?? 0);
  }

  /** A quota stopped the run: its signal aborts with the error, and it ends `incomplete`. */
  stop(reason: QuotaExceededError): void {
    this.#abort({ outcome: 'incomplete', errorType: ERROR_TYPE_QUOTA_EXCEEDED }, reason);
  }

  /**
   * Starts what an admitted run needs: its signal follows the caller's signal and its parent
   * run's (cancelling a run cancels everything nested in it), its timeout, its quota timers.
   */
  start(callerSignal: AbortSignal | undefined, timeoutMs: number | undefined): void {
    if (callerSignal !== undefined) this.#follow(callerSignal);
    if (this.parent !== undefined && !this.parent.ended) this.#follow(this.parent.signal);
    if (this.stopReason !== undefined) return;
    if (timeoutMs !== undefined) {
      (this.#timers ??= new Timers()).after(timeoutMs, () =>
        this.#abort(
          { outcome: 'timeout', errorType: ERROR_TYPE_TIMEOUT },
          new DOMException(`run '${this.name}' timed out after ${timeoutMs} ms`, 'TimeoutError'),
        ),
      );
    }
    this.ticket?.start(this.startTime);
  }

  /** Marks the run ended and releases its timers and listeners. */
  release(): void {
    this.ended = true;
    this.#timers?.clear();
    if (this.#links !== undefined) for (const [signal, onAbort] of this.#links) signal.removeEventListener('abort', onAbort);
  }

  #follow(signal: AbortSignal): void {
    const onAbort = () => this.#abort({ outcome: 'aborted', errorType: ERROR_TYPE_ABORTED }, signal.reason);
    if (signal.aborted) {
      onAbort();
      return;
    }
    signal.addEventListener('abort', onAbort, { once: true });
    (this.#links ??= []).push([signal, onAbort]);
  }

  #abort(stopReason: StopReason, reason: unknown): void {
    if (this.ended || this.stopReason !== undefined) return;
    this.stopReason = stopReason;
    this.#ownController().abort(reason);
  }

  /**
   * The controller behind `signal`, made on first use. Every child run listens to it, and an
   * orchestrator may well fan out to more than Node's default of 10 listeners: no warning for that.
   */
  #ownController(): AbortController {
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      setMaxListeners(0, this.#controller.signal);
    }
    return this.#controller;
  }

  #invalid(message: string): void {
    if (this.#strict) throw new TypeError(`agentmetry: run '${this.name}' ${message}`);
    logger.warn(`run '${this.name}' ${message}; dropped`);
  }
}

function usageProblem(usage: Usage): string | undefined {
  if (!isObject(usage)) return 'usage must be an object';
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
