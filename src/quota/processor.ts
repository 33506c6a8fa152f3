import type { Attributes, Span } from '@opentelemetry/api';
import { callSafely, logger } from '../log.js';
import { QuotaExceededError } from '../errors.js';
import {
  ATTR_GEN_AI_AGENT_NAME,
  ATTR_QUOTA_LIMIT,
  ATTR_QUOTA_MODE,
  ATTR_QUOTA_RESOURCE,
  ATTR_QUOTA_SCOPE,
  ATTR_QUOTA_THRESHOLD,
  ATTR_QUOTA_USED,
  EVENT_QUOTA_DENIED,
  EVENT_QUOTA_WARNING,
  type QuotaResource,
} from '../semconv.js';
import type { QuotaLimits, QuotaMode, QuotaOptions, RunSpec } from '../types.js';
import { MICROS_PER_USD, microsToUsd, usdToMicros } from '../money.js';
import { DEFAULT_SCOPE, parseLimits, parseQuotaOptions, toLedgerLimits, type QuotaConfig } from './config.js';
import { MemoryQuotaStore } from './memory-store.js';
import type { BudgetNode, ChargeResult, LedgerLimits, LedgerState, LedgerViolation, QuotaLease, QuotaStore, ReserveResult } from './store.js';

/** What the processor needs to know about, and set on, a run. */
export interface QuotaRun {
  readonly name: string;
  /** The agent name as it appears in metric attributes (capped). */
  readonly metricAgent: string;
  readonly depth: number;
  readonly span: Span;
  readonly parent: QuotaRun | undefined;
  /** The processor that admitted the run: budgets are inherited only from runs of the same one. */
  quotaOwner: QuotaProcessor | undefined;
  scope: string | undefined;
  quotaNodes: readonly BudgetNode[] | undefined;
  effectiveLimits: QuotaLimits | undefined;
  lease: QuotaLease | undefined;
  /** Epoch ms at which a wall-time budget ends. */
  deadline: number | undefined;
  /** Aborts the run's signal with the error as reason; the run ends `incomplete`. */
  stop(reason: QuotaExceededError): void;
}

export interface QuotaUsage {
  limit: number | undefined;
  used: number;
  reserved: number;
  remaining: number | undefined;
}

/** Quota state of one scope, in user units (USD for `costUsd`). */
export interface QuotaSnapshot {
  scope: string;
  executions: QuotaUsage;
  tokens: QuotaUsage;
  costUsd: QuotaUsage;
  wallTimeMs: QuotaUsage;
  concurrent: QuotaUsage;
}

/** Resources exported by the `subagent.quota.*` gauges. */
const GAUGE_RESOURCES = ['executions', 'tokens', 'costUsd', 'wallTimeMs', 'concurrent'] as const;
type GaugeResource = (typeof GAUGE_RESOURCES)[number];
const WARN_RESOURCES = ['executions', 'tokens', 'costUsd'] as const;

export interface CountedSeries {
  readonly attributes: Attributes;
  count: number;
}

export type GaugeObserver = (kind: 'limit' | 'used' | 'reserved', value: number, attributes: Attributes) => void;

/** A scope: its root budget node, kept as one object so that admission touches little memory. */
class ScopeRecord implements BudgetNode {
  readonly ephemeral = false;
  storeHandle: unknown = undefined;
  /** Per WARN_RESOURCES entry, the index into warnAt of the next threshold to fire. */
  readonly nextWarning: number[] = WARN_RESOURCES.map(() => 0);
  readonly gaugeAttributes = new Map<string, Attributes>();

  constructor(
    readonly key: string,
    readonly limits: LedgerLimits,
  ) {}
}

const OTHER_SCOPE = 'other';

/**
 * Admission, charging and settlement of runs against quota scopes and run budgets. Holds no
 * counts of its own beyond denials and warnings: the numbers live in the store, and the
 * meter exports exactly those.
 */
export class QuotaProcessor {
  readonly mode: QuotaMode;
  readonly store: QuotaStore;
  readonly #config: QuotaConfig;
  readonly #enforce: boolean;
  readonly #scopes = new Map<string, ScopeRecord>();
  readonly #denials = new Map<string, CountedSeries>();
  readonly #warnings = new Map<string, CountedSeries>();
  readonly #unaccounted: CountedSeries = { attributes: {}, count: 0 };
  #budgetSerial = 0;

  constructor(options: QuotaOptions) {
    this.#config = parseQuotaOptions(options);
    this.mode = this.#config.mode;
    this.#enforce = this.mode === 'enforce';
    this.store = this.#config.store ?? new MemoryQuotaStore();
  }

  get limits(): Readonly<QuotaLimits> {
    return this.#config.limits;
  }

  /**
   * Checks and reserves every limit for a run about to start. Throws (or rejects with) a
   * `QuotaExceededError` when the run is denied, a `RangeError` for a budget above its parent's.
   */
  admit(run: QuotaRun, spec: RunSpec, estimateTokens: number, estimateCostUsd: number): void | Promise<void> {
    // The nearest enclosing run this processor admitted (another AgentMeter's runs have their own budgets).
    let parent = run.parent;
    while (parent !== undefined && parent.quotaOwner !== this) parent = parent.parent;
    run.quotaOwner = this;
    const scope = parent?.scope ?? this.#scopeOf(spec);
    run.scope = scope;
    const record = this.#record(scope);
    const parentLimits = parent?.effectiveLimits ?? this.#config.limits;
    // A fresh one-element array is cheaper than reading a stored one back from a cold cache line.
    let nodes: readonly BudgetNode[] = parent?.quotaNodes ?? [record];
    let limits = parentLimits;
    if (spec.budget !== undefined) {
      const budget = parseLimits(spec.budget, 'budget');
      limits = narrowLimits(parentLimits, budget, run.name);
      const own: BudgetNode = { key: `${scope}/${run.name}#${++this.#budgetSerial}`, limits: toLedgerLimits(budget), ephemeral: true };
      nodes = [...nodes, own];
    }
    run.effectiveLimits = limits;
    run.quotaNodes = nodes;

    if (limits.maxDepth !== undefined && run.depth > limits.maxDepth) {
      const error = new QuotaExceededError({ resource: 'depth', scope, limit: limits.maxDepth, used: run.depth - 1, requested: 1 });
      this.countDenial(run, error);
      if (this.#enforce) throw error;
    }

    const result = this.store.reserve({
      nodes,
      estimate: { tokens: estimateTokens, costMicros: usdToMicros(estimateCostUsd) },
      now: Date.now(),
      enforce: this.#enforce,
    });
    if (isPromise(result)) return result.then((settled) => this.#admitted(run, record, settled));
    this.#admitted(run, record, result);
  }

  /** Charges recorded usage; stops the run when it pushed a scope or budget past a hard limit. */
  charge(run: QuotaRun, tokens: number, costMicros: number): void {
    const lease = run.lease;
    if (lease === undefined) return;
    const result = callSafely('quota store charge', () => this.store.charge(lease, { tokens, costMicros }));
    if (isPromise(result)) {
      result.then(
        (violation) => this.#charged(run, violation),
        (error: unknown) => logger.error('quota store charge failed', error),
      );
    } else {
      this.#charged(run, result);
    }
  }

  /** Releases what a finished run did not use. Never throws. */
  settle(run: QuotaRun): void {
    const lease = run.lease;
    if (lease === undefined) return;
    const result = callSafely('quota store settle', () => this.store.settle(lease));
    if (isPromise(result)) result.catch((error: unknown) => logger.error('quota store settle failed', error));
  }

  /** Stops a run whose per-run limit (turns, duration) was passed, or counts it in observe mode. */
  exceedRunLimit(run: QuotaRun, resource: 'turns' | 'duration', limit: number, used: number, requested: number): void {
    const error = new QuotaExceededError({ resource, scope: run.scope ?? DEFAULT_SCOPE, limit, used, requested });
    this.countDenial(run, error);
    if (this.#enforce) run.stop(error);
  }

  /** Stops a run still going when its scope's (or a budget's) wall-time deadline passes. */
  exceedWallTime(run: QuotaRun): void {
    if (!this.#enforce) return;
    const limit = run.effectiveLimits?.maxWallTimeMs ?? 0;
    run.stop(new QuotaExceededError({ resource: 'wallTimeMs', scope: run.scope ?? DEFAULT_SCOPE, limit, used: limit, requested: 0 }));
  }

  snapshot(scope: string = DEFAULT_SCOPE): QuotaSnapshot {
    const state = this.store.read(scope);
    const limits = this.#config.ledgerLimits;
    const used = state?.used;
    const reserved = state?.reserved;
    const now = Date.now();
    return {
      scope,
      executions: usage(limits.executions, used?.executions ?? 0, reserved?.executions ?? 0),
      tokens: usage(limits.tokens, used?.tokens ?? 0, reserved?.tokens ?? 0),
      costUsd: usage(
        this.#config.limits.maxCostUsd,
        microsToUsd(used?.costMicros ?? 0),
        microsToUsd(reserved?.costMicros ?? 0),
      ),
      wallTimeMs: usage(limits.wallTimeMs, state?.startedAt === undefined ? 0 : now - state.startedAt, 0),
      concurrent: usage(limits.concurrent, reserved?.concurrent ?? 0, 0),
    };
  }

  /** Reports the quota gauges: `global` and the first `maxReportedScopes` other scopes (in the order they appeared), the rest summed as `other`. */
  observeGauges(observe: GaugeObserver): void {
    const other = { limit: new Map<GaugeResource, number>(), used: new Map<GaugeResource, number>(), reserved: new Map<GaugeResource, number>() };
    let reported = 0;
    let hasOther = false;
    const now = Date.now();
    for (const scope of this.store.scopes()) {
      const state = this.store.read(scope);
      if (state === undefined) continue;
      // The default scope always has its own series; it names no one.
      const own = scope === DEFAULT_SCOPE || reported < this.#config.maxReportedScopes;
      if (scope !== DEFAULT_SCOPE && own) reported += 1;
      if (!own) hasOther = true;
      const record = own ? this.#record(scope) : undefined;
      for (const resource of GAUGE_RESOURCES) {
        const [limit, used, reserved] = gaugeValues(resource, state, now);
        if (resource === 'wallTimeMs' && limit === undefined) continue;
        if (record !== undefined) {
          const attributes = gaugeAttributes(record, scope, resource);
          if (limit !== undefined) observe('limit', limit, attributes);
          observe('used', used, attributes);
          observe('reserved', reserved, attributes);
        } else {
          if (limit !== undefined) other.limit.set(resource, (other.limit.get(resource) ?? 0) + limit);
          other.used.set(resource, (other.used.get(resource) ?? 0) + used);
          other.reserved.set(resource, (other.reserved.get(resource) ?? 0) + reserved);
        }
      }
    }
    if (!hasOther) return;
    for (const kind of ['limit', 'used', 'reserved'] as const) {
      for (const [resource, value] of other[kind]) {
        observe(kind, value, { [ATTR_QUOTA_RESOURCE]: resource, [ATTR_QUOTA_SCOPE]: OTHER_SCOPE });
      }
    }
  }

  denials(): Iterable<CountedSeries> {
    return this.#denials.values();
  }

  warnings(): Iterable<CountedSeries> {
    return this.#warnings.values();
  }

  /** Runs a shared store admitted without accounting (`onUnavailable: 'allow'`). */
  unaccounted(): number {
    return this.#unaccounted.count;
  }

  #admitted(run: QuotaRun, record: ScopeRecord, result: ReserveResult): void {
    if (!result.admitted) {
      const error = this.#errorFor(result.violation);
      this.countDenial(run, error);
      throw error;
    }
    run.lease = result.lease;
    run.deadline = result.deadline;
    if (result.violation !== undefined) this.countDenial(run, this.#errorFor(result.violation));
    if (result.unaccounted === true) {
      this.#unaccounted.count += 1;
      logger.warn(`quota store ${this.store.name} is unavailable; run '${run.name}' admitted without accounting`);
    }
    this.#checkWarningsSafely(run, record);
  }

  #charged(run: QuotaRun, violation: ChargeResult): void {
    if (violation !== undefined && this.#enforce) {
      const error = this.#errorFor(violation);
      callSafely('span event', () => run.span.addEvent(EVENT_QUOTA_DENIED, eventAttributes(error)));
      run.stop(error);
    }
    const record = run.scope === undefined ? undefined : this.#scopes.get(run.scope);
    if (record !== undefined) this.#checkWarningsSafely(run, record);
  }

  #checkWarningsSafely(run: QuotaRun, record: ScopeRecord): void {
    if (this.#config.warnAt.length === 0) return;
    callSafely('checking quota warnings', () => this.#checkWarnings(run, record));
  }

  #checkWarnings(run: QuotaRun, record: ScopeRecord): void {
    const thresholds = this.#config.warnAt;
    const state = this.store.read(record.key);
    if (state === undefined) return;
    for (let index = 0; index < WARN_RESOURCES.length; index++) {
      const resource = WARN_RESOURCES[index]!;
      const limit = ledgerLimit(state, resource);
      if (limit === undefined || limit === 0) continue;
      const held = ledgerHeld(state, resource);
      while (record.nextWarning[index]! < thresholds.length && held >= thresholds[record.nextWarning[index]!]! * limit) {
        const threshold = thresholds[record.nextWarning[index]!]!;
        record.nextWarning[index]! += 1;
        this.#countWarning(run, resource, threshold, record.key, held, limit);
      }
    }
  }

  #countWarning(run: QuotaRun, resource: QuotaResource, threshold: number, scope: string, held: number, limit: number): void {
    const key = `${resource}\u0000${threshold}`;
    let series = this.#warnings.get(key);
    if (series === undefined) {
      series = { attributes: { [ATTR_QUOTA_RESOURCE]: resource, [ATTR_QUOTA_THRESHOLD]: threshold }, count: 0 };
      this.#warnings.set(key, series);
    }
    series.count += 1;
    const scale = resource === 'costUsd' ? MICROS_PER_USD : 1;
    callSafely('span event', () =>
      run.span.addEvent(EVENT_QUOTA_WARNING, {
        [ATTR_QUOTA_RESOURCE]: resource,
        [ATTR_QUOTA_SCOPE]: scope,
        [ATTR_QUOTA_THRESHOLD]: threshold,
        [ATTR_QUOTA_USED]: held / scale,
        [ATTR_QUOTA_LIMIT]: limit / scale,
      }),
    );
  }

  /** Counts a denial (a would-be one in observe mode) in `subagent.quota.denials`. */
  countDenial(run: Pick<QuotaRun, 'metricAgent' | 'span'>, error: QuotaExceededError): void {
    const resource = error.resource;
    const key = `${resource}\u0000${run.metricAgent}`;
    let series = this.#denials.get(key);
    if (series === undefined) {
      series = {
        attributes: { [ATTR_QUOTA_RESOURCE]: resource, [ATTR_GEN_AI_AGENT_NAME]: run.metricAgent, [ATTR_QUOTA_MODE]: this.mode },
        count: 0,
      };
      this.#denials.set(key, series);
    }
    series.count += 1;
    if (!this.#enforce) callSafely('span event', () => run.span.addEvent(EVENT_QUOTA_DENIED, eventAttributes(error)));
  }

  #errorFor(violation: LedgerViolation): QuotaExceededError {
    const scale = violation.resource === 'costUsd' ? MICROS_PER_USD : 1;
    return new QuotaExceededError({
      resource: violation.resource,
      scope: violation.key,
      limit: violation.limit / scale,
      used: violation.used / scale,
      requested: violation.requested / scale,
    });
  }

  #scopeOf(spec: RunSpec): string {
    const scope = callSafely('quota.scopeBy', () => this.#config.scopeOf(spec));
    if (typeof scope === 'string' && scope.length > 0) return scope;
    logger.warn(`quota.scopeBy returned ${typeof scope === 'string' ? 'an empty string' : typeof scope}; using scope '${DEFAULT_SCOPE}'`);
    return DEFAULT_SCOPE;
  }

  #record(scope: string): ScopeRecord {
    let record = this.#scopes.get(scope);
    if (record === undefined) {
      record = new ScopeRecord(scope, this.#config.ledgerLimits);
      this.#scopes.set(scope, record);
    }
    return record;
  }
}

/** A child's limits: its budget, each of which must fit inside what its parent allows. */
function narrowLimits(parent: QuotaLimits, budget: QuotaLimits, runName: string): QuotaLimits {
  const limits: QuotaLimits = { ...parent };
  for (const key of Object.keys(budget) as (keyof QuotaLimits)[]) {
    const value = budget[key]!;
    const parentValue = parent[key];
    if (parentValue !== undefined && value > parentValue) {
      throw new RangeError(
        `agentmetry: budget.${key} (${value}) of run '${runName}' exceeds its parent's ${key} (${parentValue}); a child budget must fit inside its parent's`,
      );
    }
    limits[key] = value;
  }
  return limits;
}

function usage(limit: number | undefined, used: number, reserved: number): QuotaUsage {
  return { limit, used, reserved, remaining: limit === undefined ? undefined : Math.max(0, limit - used - reserved) };
}

function ledgerLimit(state: LedgerState, resource: (typeof WARN_RESOURCES)[number]): number | undefined {
  return resource === 'costUsd' ? state.limits.costMicros : state.limits[resource];
}

function ledgerHeld(state: LedgerState, resource: (typeof WARN_RESOURCES)[number]): number {
  const field = resource === 'costUsd' ? 'costMicros' : resource;
  return state.used[field] + state.reserved[field];
}

function gaugeValues(resource: GaugeResource, state: LedgerState, now: number): [number | undefined, number, number] {
  const { limits, used, reserved } = state;
  switch (resource) {
    case 'executions':
      return [limits.executions, used.executions, reserved.executions];
    case 'tokens':
      return [limits.tokens, used.tokens, reserved.tokens];
    case 'costUsd':
      return [
        limits.costMicros === undefined ? undefined : microsToUsd(limits.costMicros),
        microsToUsd(used.costMicros),
        microsToUsd(reserved.costMicros),
      ];
    case 'wallTimeMs':
      return [limits.wallTimeMs, state.startedAt === undefined ? 0 : now - state.startedAt, 0];
    case 'concurrent':
      return [limits.concurrent, reserved.concurrent, 0];
  }
}

function gaugeAttributes(record: ScopeRecord, scope: string, resource: GaugeResource): Attributes {
  let attributes = record.gaugeAttributes.get(resource);
  if (attributes === undefined) {
    attributes = { [ATTR_QUOTA_RESOURCE]: resource, [ATTR_QUOTA_SCOPE]: scope };
    record.gaugeAttributes.set(resource, attributes);
  }
  return attributes;
}

function eventAttributes(error: QuotaExceededError): Attributes {
  return {
    [ATTR_QUOTA_RESOURCE]: error.resource,
    [ATTR_QUOTA_SCOPE]: error.scope,
    [ATTR_QUOTA_LIMIT]: error.limit,
    [ATTR_QUOTA_USED]: error.used,
  };
}

function isPromise<T>(value: T | Promise<T> | undefined): value is Promise<T> {
  return typeof (value as Promise<T> | undefined)?.then === 'function';
}

