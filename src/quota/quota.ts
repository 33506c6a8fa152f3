import { isPromise } from '../is-promise.js';
import { logger, safeCall } from '../log.js';
import { QuotaExceededError } from '../errors.js';
import type { QuotaLimits, QuotaMode, QuotaOptions, RunSpec } from '../types.js';
import { NANOS_PER_USD, nanosToUsd, usdToNanos } from '../money.js';
import { DEFAULT_SCOPE, parseLimits, parseQuotaOptions, toLedgerLimits, type QuotaConfig } from './config.js';
import { Deadlines } from './deadlines.js';
import { MemoryQuotaStore } from './memory-store.js';
import type { BudgetNode, LedgerState, LedgerViolation, QuotaStore, ReserveResult } from './store.js';
import { QuotaTicket, type QuotaRunEvents } from './ticket.js';
import type { QuotaSnapshot, QuotaUsage, QuotaView } from './view.js';

/** Resources exported by the `subagent.quota.*` gauges. */
const GAUGE_RESOURCES = ['executions', 'tokens', 'costUsd', 'wallTimeMs', 'concurrent'] as const;
type GaugeResource = (typeof GAUGE_RESOURCES)[number];
const WARN_RESOURCES = ['executions', 'tokens', 'costUsd'] as const;
const OTHER_SCOPE = 'other';

/** One value of a quota gauge, in user units (USD for `costUsd`). */
export type GaugeVisitor = (kind: 'limit' | 'used' | 'reserved', resource: GaugeResource, scope: string, value: number) => void;

/** The runs a new run is nested in, nearest first: each has the ticket its quota gave it, if any. */
export interface QuotaLineage {
  readonly ticket: QuotaTicket | undefined;
  readonly parent: QuotaLineage | undefined;
}

/** What admission needs to know about a run about to start. */
export interface AdmitRequest {
  readonly spec: RunSpec;
  readonly depth: number;
  /** The run's parent, through which budgets and scopes are inherited. */
  readonly parent: QuotaLineage | undefined;
  /** Where denials, stops and warnings of this run are reported. */
  readonly events: QuotaRunEvents;
}

/** A scope: its root budget node (made once, so that the store sees the same node every time) and its warnings. */
class ScopeRecord {
  /** Per WARN_RESOURCES entry, the index into warnAt of the next threshold to fire. */
  readonly nextWarning: number[] = WARN_RESOURCES.map(() => 0);

  constructor(
    readonly key: string,
    readonly node: BudgetNode,
  ) {}
}

/**
 * Admission, charging and settlement of runs against quota scopes and run budgets. Holds no
 * counts of its own beyond runs admitted unaccounted: the numbers live in the store, and the
 * quota gauges report exactly those. Knows nothing of spans or metrics: what happens to a run
 * is reported through the run's `QuotaRunEvents`.
 */
export class Quota {
  readonly mode: QuotaMode;
  readonly store: QuotaStore;
  /** The read-only face of this quota, as `agentmeter.quota`. */
  readonly view: QuotaView;
  /** The wall-time deadlines of running tickets, one timer per deadline. */
  readonly deadlines = new Deadlines<QuotaTicket>((ticket) => this.exceedWallTime(ticket));
  readonly #config: QuotaConfig;
  readonly #enforce: boolean;
  readonly #scopes = new Map<string, ScopeRecord>();
  #unaccounted = 0;
  #budgetSerial = 0;

  constructor(options: QuotaOptions) {
    this.#config = parseQuotaOptions(options);
    this.mode = this.#config.mode;
    this.#enforce = this.mode === 'enforce';
    this.store = this.#config.store ?? new MemoryQuotaStore();
    this.view = Object.freeze({
      mode: this.mode,
      limits: Object.freeze({ ...this.#config.limits }),
      snapshot: (scope?: string) => this.snapshot(scope),
      unaccounted: () => this.unaccounted(),
    });
  }

  /**
   * Checks and reserves every limit for a run about to start, and returns its ticket. Throws
   * (or rejects with) a `QuotaExceededError` when the run is denied, a `RangeError` for a budget
   * above its parent's, or whatever the store refuses with (`QuotaStoreUnavailableError`).
   */
  admit(request: AdmitRequest): QuotaTicket | Promise<QuotaTicket> {
    const { spec, depth, events } = request;
    // The nearest enclosing run this quota admitted (another AgentMeter's runs have their own budgets).
    let parent = request.parent;
    while (parent !== undefined && parent.ticket?.quota !== this) parent = parent.parent;
    const parentTicket = parent?.ticket;
    const scope = parentTicket?.scope ?? this.#scopeOf(spec);
    const record = this.#record(scope);
    const parentLimits = parentTicket?.limits ?? this.#config.limits;
    // A fresh one-element array is cheaper than reading a stored one back from a cold cache line.
    let nodes: readonly BudgetNode[] = parentTicket?.nodes ?? [record.node];
    let limits = parentLimits;
    if (spec.budget !== undefined) {
      const budget = parseLimits(spec.budget, 'budget');
      limits = narrowLimits(parentLimits, budget, spec.name);
      const own = this.#node({ key: `${scope}/${spec.name}#${++this.#budgetSerial}`, limits: toLedgerLimits(budget), ephemeral: true });
      nodes = [...nodes, own];
    }

    if (limits.maxDepth !== undefined && depth > limits.maxDepth) {
      const error = new QuotaExceededError({ resource: 'depth', scope, limit: limits.maxDepth, used: depth - 1, requested: 1 });
      events.denied(error, this.mode);
      if (this.#enforce) throw error;
    }

    const estimate = spec.estimate;
    const result = this.store.reserve({
      nodes,
      estimate: { tokens: estimate?.tokens ?? 0, costNanos: usdToNanos(estimate?.costUsd ?? 0) },
      now: Date.now(),
      enforce: this.#enforce,
    });
    if (!isPromise(result)) return this.#admitted(result, spec.name, scope, record, nodes, limits, events);
    return result.then((settled) => this.#admitted(settled, spec.name, scope, record, nodes, limits, events));
  }

  snapshot(scope: string = DEFAULT_SCOPE): QuotaSnapshot {
    const state = this.store.read(scope);
    const limits = this.#config.ledgerLimits;
    const used = state?.used;
    const reserved = state?.reserved;
    return {
      scope,
      executions: usage(limits.executions, used?.executions ?? 0, reserved?.executions ?? 0),
      tokens: usage(limits.tokens, used?.tokens ?? 0, reserved?.tokens ?? 0),
      costUsd: usage(this.#config.limits.maxCostUsd, nanosToUsd(used?.costNanos ?? 0), nanosToUsd(reserved?.costNanos ?? 0)),
      wallTimeMs: usage(limits.wallTimeMs, state?.startedAt === undefined ? 0 : Date.now() - state.startedAt, 0),
      concurrent: usage(limits.concurrent, reserved?.concurrent ?? 0, 0),
    };
  }

  /** Runs a shared store admitted without accounting (`onUnavailable: 'allow'`). */
  unaccounted(): number {
    return this.#unaccounted;
  }

  /**
   * Visits the gauge values: `global` and the first `maxReportedScopes` other scopes (in the
   * order they appeared) by name, the rest summed as `other`.
   */
  forEachGauge(visit: GaugeVisitor): void {
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
      for (const resource of GAUGE_RESOURCES) {
        const [limit, used, reserved] = gaugeValues(resource, state, now);
        if (resource === 'wallTimeMs' && limit === undefined) continue;
        if (own) {
          if (limit !== undefined) visit('limit', resource, scope, limit);
          visit('used', resource, scope, used);
          visit('reserved', resource, scope, reserved);
        } else {
          if (limit !== undefined) other.limit.set(resource, (other.limit.get(resource) ?? 0) + limit);
          other.used.set(resource, (other.used.get(resource) ?? 0) + used);
          other.reserved.set(resource, (other.reserved.get(resource) ?? 0) + reserved);
        }
      }
    }
    if (!hasOther) return;
    for (const kind of ['limit', 'used', 'reserved'] as const) {
      for (const [resource, value] of other[kind]) visit(kind, resource, OTHER_SCOPE, value);
    }
  }

  /** A charge pushed a scope or budget past a hard limit: stop the run (enforce mode); check warnings. */
  charged(ticket: QuotaTicket, violation: LedgerViolation | undefined): void {
    if (violation !== undefined && this.#enforce) ticket.events.exceeded(this.errorFor(violation));
    const record = this.#scopes.get(ticket.scope);
    if (record !== undefined) this.#checkWarningsSafely(ticket.events, record);
  }

  /** A per-run limit (turns, duration) was passed: count it, and stop the run in enforce mode. */
  exceedRunLimit(ticket: QuotaTicket, resource: 'turns' | 'duration', limit: number, used: number, requested: number): void {
    const error = new QuotaExceededError({ resource, scope: ticket.scope, limit, used, requested });
    ticket.events.denied(error, this.mode);
    if (this.#enforce) ticket.events.stopped(error);
  }

  /** The run is still going when its scope's (or a budget's) wall-time deadline passes. */
  exceedWallTime(ticket: QuotaTicket): void {
    if (!this.#enforce) return;
    const limit = ticket.limits.maxWallTimeMs ?? 0;
    ticket.events.stopped(new QuotaExceededError({ resource: 'wallTimeMs', scope: ticket.scope, limit, used: limit, requested: 0 }));
  }

  errorFor(violation: LedgerViolation): QuotaExceededError {
    const scale = violation.resource === 'costUsd' ? NANOS_PER_USD : 1;
    return new QuotaExceededError({
      resource: violation.resource,
      scope: violation.key,
      limit: violation.limit / scale,
      used: violation.used / scale,
      requested: violation.requested / scale,
    });
  }

  #admitted(
    result: ReserveResult,
    name: string,
    scope: string,
    record: ScopeRecord,
    nodes: readonly BudgetNode[],
    limits: QuotaLimits,
    events: QuotaRunEvents,
  ): QuotaTicket {
    if (!result.admitted) {
      const error = this.errorFor(result.violation);
      events.denied(error, this.mode);
      throw error;
    }
    if (result.violation !== undefined) events.denied(this.errorFor(result.violation), this.mode);
    if (result.unaccounted === true) {
      this.#unaccounted += 1;
      logger.warn(`quota store ${this.store.name} is unavailable; run '${name}' admitted without accounting`);
    }
    const ticket = new QuotaTicket(this, scope, nodes, limits, result.lease, result.deadline, events);
    this.#checkWarningsSafely(events, record);
    return ticket;
  }

  #checkWarningsSafely(events: QuotaRunEvents, record: ScopeRecord): void {
    if (this.#config.warnAt.length === 0) return;
    safeCall(logger, 'checking quota warnings', () => this.#checkWarnings(events, record));
  }

  #checkWarnings(events: QuotaRunEvents, record: ScopeRecord): void {
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
        const scale = resource === 'costUsd' ? NANOS_PER_USD : 1;
        events.warned({ resource, threshold, scope: record.key, used: held / scale, limit: limit / scale });
      }
    }
  }

  #scopeOf(spec: RunSpec): string {
    const scope = safeCall(logger, 'quota.scopeBy', () => this.#config.scopeOf(spec));
    if (typeof scope === 'string' && scope.length > 0) return scope;
    logger.warn(`quota.scopeBy returned ${typeof scope === 'string' ? 'an empty string' : typeof scope}; using scope '${DEFAULT_SCOPE}'`);
    return DEFAULT_SCOPE;
  }

  #record(scope: string): ScopeRecord {
    let record = this.#scopes.get(scope);
    if (record === undefined) {
      record = new ScopeRecord(scope, this.#node({ key: scope, limits: this.#config.ledgerLimits, ephemeral: false }));
      this.#scopes.set(scope, record);
    }
    return record;
  }

  /** The node object the store wants for a budget: its own (`createNode`), or the plain one. */
  #node(node: BudgetNode): BudgetNode {
    return this.store.createNode?.(node) ?? node;
  }
}

/** A child's limits: its budget, each of which must fit inside what its parent allows. */
function narrowLimits(parent: QuotaLimits, budget: QuotaLimits, runName: string): QuotaLimits {
  const limits: QuotaLimits = { ...parent };
  for (const key of Object.keys(budget) as Array<keyof QuotaLimits>) {
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
  return resource === 'costUsd' ? state.limits.costNanos : state.limits[resource];
}

function ledgerHeld(state: LedgerState, resource: (typeof WARN_RESOURCES)[number]): number {
  const field = resource === 'costUsd' ? 'costNanos' : resource;
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
      return [limits.costNanos === undefined ? undefined : nanosToUsd(limits.costNanos), nanosToUsd(used.costNanos), nanosToUsd(reserved.costNanos)];
    case 'wallTimeMs':
      return [limits.wallTimeMs, state.startedAt === undefined ? 0 : now - state.startedAt, 0];
    case 'concurrent':
      return [limits.concurrent, reserved.concurrent, 0];
  }
}
