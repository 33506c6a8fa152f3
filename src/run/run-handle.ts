import { setMaxListeners } from 'node:events';
import type { Context, Span } from '@opentelemetry/api';
import type { QuotaExceededError } from '../errors.js';
import { isObject } from '../is-object.js';
import { logger } from '../log.js';
import { MAX_LEDGER_USD, nanosToUsd, usdToNanos } from '../money.js';
import type { QuotaTicket } from '../quota/ticket.js';
import { ERROR_TYPE_ABORTED, ERROR_TYPE_QUOTA_EXCEEDED, ERROR_TYPE_TIMEOUT, type Outcome } from '../semconv.js';
import type { RunRecord, RunTelemetry } from '../telemetry/run-telemetry.js';
import type { SeriesStats } from '../telemetry/series.js';
import { Timers } from '../timers.js';
import type { Run, ToolCall, Usage } from '../types.js';
import type { ModelCall, ModelCallLimits } from './model-call.js';
import { followSignal, unfollowSignal } from './signal-followers.js';

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
  toolCalls = 0;
  /** The cost recorded, in nano-dollars: the exact sum below, rounded. */
  costNanos = 0;
  usageRecorded = false;
  model: string | undefined;
  ended = false;
  stopReason: StopReason | undefined;
  /** Set once the quota admitted the run. */
  ticket: QuotaTicket | undefined;
  /** `performance.now()` when the run began (its span's start time). */
  readonly startTime: number;
  readonly span: Span;
  readonly context: Context;
  readonly series: SeriesStats;

  readonly #telemetry: RunTelemetry;
  readonly #strict: boolean;
  /** The exact sum of the costs recorded, in USD. */
  #costUsd = 0;
  #controller: AbortController | undefined;
  /** Armed only for a run with a timeout. */
  #timers: Timers | undefined;
  /** The signals this run follows until it ends: the caller's, its parent run's. */
  #followed: AbortSignal[] | undefined;

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
    this.startTime = record.startTime;
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
    return nanosToUsd(this.costNanos);
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

  recordUsage(given: Usage): void {
    this.#recordUsage(given, 'recordUsage');
  }

  /**
   * Holds a model call's worst case against every quota of the run before the call is made. Rejects
   * with a `TypeError` or `RangeError` naming a field that is not a valid amount, and with the
   * `QuotaExceededError` that refuses the call when its worst case does not fit (the run is stopped
   * too, as for any overrun), or with the reason the run was stopped already.
   */
  async reserveCall(limits: ModelCallLimits): Promise<ModelCall> {
    const { tokens, costNanos } = parseCallLimits(limits);
    if (this.stopReason !== undefined && !this.ended) throw this.signal.reason;
    const ticket = this.ended ? undefined : this.ticket;
    const held = ticket === undefined ? false : await ticket.hold(tokens, costNanos);
    let settled = false;
    return {
      settle: (usage?: Usage) => {
        if (settled) return;
        settled = true;
        const charged = usage === undefined ? undefined : this.#recordUsage(usage, 'reserveCall(...).settle');
        if (!held) return;
        // What the usage drew from the hold is used; the rest of the worst case goes back.
        ticket!.release(Math.max(0, tokens - (charged?.tokens ?? 0)), Math.max(0, costNanos - (charged?.costNanos ?? 0)));
      },
    };
  }

  /** Records the valid fields of a usage record; returns what was charged. */
  #recordUsage(given: Usage, method: string): { tokens: number; costNanos: number } | undefined {
    // Each field stands alone: a cost a pricing hook got wrong (NaN for a model missing from its
    // price table) drops that cost, never the tokens, which the quota must see whatever the price.
    const { usage, problems } = parseUsage(given);
    const charged = usage === undefined ? undefined : this.#addUsage(usage);
    // With `strict`, this throws once the valid fields are recorded.
    if (problems.length > 0) {
      this.#invalid(`${method}: ${problems.join('; ')}`, problems.length === 1 ? 'that field was dropped' : 'those fields were dropped');
    }
    return charged;
  }

  recordToolCall(given: ToolCall): void {
    if (!isObject(given)) {
      this.#invalid(`recordToolCall: call must be an object, got ${describe(given)}`, 'the call was dropped');
      return;
    }
    // Each field read once; nothing is allocated for a valid call (the problems only on failure).
    const { name, durationMs, error, type } = given;
    const nameValid = typeof name === 'string' && name.length > 0;
    const durationValid = typeof durationMs === 'number' && Number.isFinite(durationMs) && durationMs >= 0;
    const typeValid = type === undefined || (typeof type === 'string' && type.length > 0);
    const recorded = nameValid && durationValid;
    if (recorded) {
      // Also after the run ended: like late usage, the call happened and its duration is recorded.
      this.toolCalls += 1;
      this.#telemetry.recordToolCall(this.series, name, durationMs, error, typeValid ? type : undefined);
    }
    if (recorded && typeValid) return;
    // With `strict`, this throws once a call that could be recorded is.
    const problems = toolCallProblems({ name, durationMs, type }, { name: nameValid, durationMs: durationValid, type: typeValid });
    this.#invalid(`recordToolCall: ${problems.join('; ')}`, recorded ? 'that field was dropped' : 'the call was dropped');
  }

  #addUsage(usage: Usage): { tokens: number; costNanos: number } {
    const inputTokens = usage.inputTokens ?? 0;
    const outputTokens = usage.outputTokens ?? 0;
    const costNanos = usage.costUsd === undefined ? undefined : this.#addCost(usage.costUsd);
    this.inputTokens += inputTokens;
    this.outputTokens += outputTokens;
    this.usageRecorded = true;
    if (this.model === undefined && usage.model !== undefined) this.model = usage.model;
    this.#telemetry.addUsage(this.series, inputTokens, outputTokens, costNanos);
    if (this.ended) this.#telemetry.recordLateUsage(this.series, inputTokens, outputTokens);
    this.ticket?.charge(inputTokens + outputTokens, costNanos ?? 0);
    return { tokens: inputTokens + outputTokens, costNanos: costNanos ?? 0 };
  }

  /** A quota stopped the run: its signal aborts with the error, and it ends `incomplete`. */
  stop(reason: QuotaExceededError): void {
    this.#abort({ outcome: 'incomplete', errorType: ERROR_TYPE_QUOTA_EXCEEDED }, reason);
  }

  /** The caller's signal, or the parent run, cancelled this run: it ends `aborted`. */
  cancel(reason: unknown): void {
    this.#abort({ outcome: 'aborted', errorType: ERROR_TYPE_ABORTED }, reason);
  }

  /**
   * Why this run must not start, if a signal it would follow has already fired: the caller's, or
   * its parent run's when that run was cancelled or timed out. (A parent a quota stopped is the
   * quota's business: admission denies its children.)
   */
  cancelledBeforeStart(callerSignal: AbortSignal | undefined): { reason: unknown } | undefined {
    if (callerSignal?.aborted === true) return { reason: callerSignal.reason };
    const parent = this.parent;
    const parentStop = parent === undefined || parent.ended ? undefined : parent.stopReason;
    if (parentStop !== undefined && parentStop.errorType !== ERROR_TYPE_QUOTA_EXCEEDED) return { reason: parent!.signal.reason };
    return undefined;
  }

  /**
   * Starts what an admitted run needs: its signal follows the caller's signal and its parent
   * run's (cancelling a run cancels everything nested in it), its timeout, its quota timers.
   * Neither signal gets a listener per run (see `followSignal`).
   */
  start(callerSignal: AbortSignal | undefined, timeoutMs: number | undefined): void {
    if (callerSignal !== undefined) this.#follow(callerSignal);
    // Only the parent's public face is used: it may be a run of another copy of the package.
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

  /** Marks the run ended and releases its timers and the signals it follows. */
  release(): void {
    this.ended = true;
    this.#timers?.clear();
    if (this.#followed !== undefined) for (const signal of this.#followed) unfollowSignal(signal, this);
  }

  #follow(signal: AbortSignal): void {
    if (signal.aborted) {
      this.cancel(signal.reason);
      return;
    }
    followSignal(signal, this);
    (this.#followed ??= []).push(signal);
  }

  #abort(stopReason: StopReason, reason: unknown): void {
    if (this.ended || this.stopReason !== undefined) return;
    this.stopReason = stopReason;
    this.#ownController().abort(reason);
  }

  /**
   * The controller behind `signal`, made on first use. Apps hand a run's signal to every request
   * the run makes, and an orchestrator may well make more than Node's default of 10 at once: no
   * warning for that.
   */
  #ownController(): AbortController {
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      setMaxListeners(0, this.#controller.signal);
    }
    return this.#controller;
  }

  /**
   * Adds a cost to the run's exact sum and returns the nano-dollars it adds to the rounded total,
   * so amounts below one nano-dollar add up over the run instead of each rounding to 0.
   */
  #addCost(usd: number): number {
    this.#costUsd += usd;
    const total = usdToNanos(this.#costUsd);
    const added = total - this.costNanos;
    this.costNanos = total;
    return added;
  }

  #invalid(message: string, dropped = 'dropped'): void {
    if (this.#strict) throw new TypeError(`agentmetry: run '${this.name}' ${message}`);
    logger.warn(`run '${this.name}' ${message}; ${dropped}`);
  }
}

/**
 * The valid fields of a usage record (`undefined` when none was valid), and what was wrong with
 * the others. Each field is read once.
 */
function parseUsage(given: Usage): { usage: Usage | undefined; problems: string[] } {
  if (!isObject(given)) return { usage: undefined, problems: [`usage must be an object, got ${describe(given)}`] };
  const { inputTokens, outputTokens, costUsd, model } = given;
  const usage: Usage = {};
  const problems: string[] = [];
  for (const [field, value] of [
    ['inputTokens', inputTokens],
    ['outputTokens', outputTokens],
  ] as const) {
    if (value === undefined) continue;
    if (Number.isSafeInteger(value) && value >= 0) usage[field] = value;
    else problems.push(`${field} must be a non-negative integer, got ${describe(value)}`);
  }
  if (costUsd !== undefined) {
    if (typeof costUsd === 'number' && costUsd >= 0 && costUsd <= MAX_LEDGER_USD) usage.costUsd = costUsd;
    else problems.push(`costUsd must be a number from 0 to ${MAX_LEDGER_USD}, got ${describe(costUsd)}`);
  }
  if (model !== undefined) {
    if (typeof model === 'string') usage.model = model;
    else problems.push(`model must be a string, got ${typeof model}`);
  }
  const nothingValid = problems.length > 0 && Object.keys(usage).length === 0;
  return { usage: nothingValid ? undefined : usage, problems };
}

/** A model call's worst case in ledger units; throws naming the first field that is not a valid amount. */
function parseCallLimits(limits: ModelCallLimits): { tokens: number; costNanos: number } {
  if (!isObject(limits)) throw new TypeError(`agentmetry: reserveCall: limits must be an object, got ${describe(limits)}`);
  const { inputTokens, maxOutputTokens, costUsd = 0 } = limits;
  for (const [field, value] of [
    ['inputTokens', inputTokens],
    ['maxOutputTokens', maxOutputTokens],
  ] as const) {
    if (!Number.isSafeInteger(value) || value < 0)
      throw new RangeError(`agentmetry: reserveCall: ${field} must be a non-negative integer, got ${describe(value)}`);
  }
  if (typeof costUsd !== 'number' || !(costUsd >= 0 && costUsd <= MAX_LEDGER_USD)) {
    throw new RangeError(`agentmetry: reserveCall: costUsd must be a number from 0 to ${MAX_LEDGER_USD}, got ${describe(costUsd)}`);
  }
  return { tokens: inputTokens + maxOutputTokens, costNanos: usdToNanos(costUsd) };
}

/** What is wrong with a tool call, field by field (called only when something is). */
function toolCallProblems(
  fields: { name: unknown; durationMs: unknown; type: unknown },
  valid: { name: boolean; durationMs: boolean; type: boolean },
): string[] {
  const text = (value: unknown) => (value === '' ? 'an empty string' : describe(value));
  const problems: string[] = [];
  if (!valid.name) problems.push(`name must be a non-empty string, got ${text(fields.name)}`);
  if (!valid.durationMs) problems.push(`durationMs must be a finite, non-negative number, got ${describe(fields.durationMs)}`);
  if (!valid.type) problems.push(`type must be a non-empty string, got ${text(fields.type)}`);
  return problems;
}

/** A value in a message: numbers and the like as they print, anything else by its type. */
function describe(value: unknown): string {
  const type = typeof value;
  return type === 'number' || type === 'boolean' || type === 'bigint' || value === undefined || value === null ? String(value) : type;
}
