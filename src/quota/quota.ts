import { isPromise } from '../is-promise.js';
import { logger, safeCall } from '../log.js';
import { QuotaExceededError } from '../errors.js';
import type { QuotaLimits, QuotaMode, QuotaOptions, RunSpec } from '../types.js';
import { NANOS_PER_USD, nanosToUsd, usdToNanos } from '../money.js';
import { DEFAULT_SCOPE, parseLimits, parseQuotaOptions, toLedgerLimits, type LevelConfig, type QuotaConfig } from './config.js';
import { Deadlines } from './deadlines.js';
import { BurnRate, calendarExhaustion, lifetimeExhaustion, rollingExhaustion } from './forecast.js';
import { MemoryQuotaStore } from './memory-store.js';
import type { BudgetNode, LedgerAmounts, LedgerState, LedgerViolation, QuotaStore, ReserveResult, WindowState } from './store.js';
import { QuotaTicket, type QuotaRunEvents } from './ticket.js';
import type { QuotaSnapshot, QuotaUsage, QuotaView, QuotaWindowUsage } from './view.js';
import { CalendarWindow, RollingWindow, type BudgetWindow } from './windows.js';

/** Resources exported by the `subagent.quota.*` gauges. */
const GAUGE_RESOURCES = ['executions', 'tokens', 'costUsd', 'wallTimeMs', 'concurrent'] as const;
type GaugeResource = (typeof GAUGE_RESOURCES)[number];
const WARN_RESOURCES = ['executions', 'tokens', 'costUsd'] as const;
const OTHER_SCOPE = 'other';

const WINDOW_RESOURCES = ['executions', 'tokens', 'costUsd'] as const;
type WindowResource = (typeof WINDOW_RESOURCES)[number];

/** The quota gauges: `exhaustion` is seconds until the limit is projected to run out, or -1 when it is not. */
export type GaugeKind = 'limit' | 'used' | 'reserved' | 'exhaustion';

/**
 * One value of a quota gauge, in user units (USD for `costUsd`). `level` is undefined for a quota
 * without `levels`, `window` for a limit that never resets.
 */
export type GaugeVisitor = (
  kind: GaugeKind,
  resource: GaugeResource,
  scope: string,
  value: number,
  level: string | undefined,
  window: string | undefined,
) => void;

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

/** Forgotten scope records a level keeps to make over for new scopes, as the memory store keeps nodes. */
const SPARE_RECORDS = 4_096;

/**
 * A scope of one level: its budget node (made once, so that the store sees the same node every
 * time), its warnings and what is in flight in it. Once forgotten, it may be made over for another
 * scope of its level: only the level's map and the tickets of runs in flight may hold one.
 */
export class ScopeRecord {
  /** Per WARN_RESOURCES entry, the index into warnAt of the next threshold to fire (made on the first check: most quotas have no warnAt). */
  nextWarning: number[] | undefined;
  /** Per window of the level: the period warnings last fired in, and per WINDOW_RESOURCES entry the next threshold. */
  windowWarnings: Array<{ period: number; next: number[] }> | undefined;
  /** Runs admitted (or being admitted) in this scope and not yet finished. */
  inFlight = 0;
  /** Epoch ms of the last admission: the windows' buckets it counts in decide when the scope can go. */
  lastAdmittedAt = 0;
  /** Epoch ms from which an idle scope may be forgotten. */
  evictAt = Infinity;
  /** In its level's eviction queue, placed there when it was due at `queuedEvictAt`. */
  queued = false;
  queuedEvictAt = Infinity;
  /** The scope's recent consumption, made on its first read (snapshot or gauge collection). */
  burnRate: BurnRate | undefined;

  constructor(
    readonly level: Level,
    public scope: string,
    public node: BudgetNode,
  ) {}

  /** Makes a forgotten record over for another scope of its level, from nothing. */
  remake(scope: string, node: BudgetNode): void {
    this.scope = scope;
    this.node = node;
    this.nextWarning = this.windowWarnings = this.burnRate = undefined;
    this.inFlight = 0;
    this.lastAdmittedAt = 0;
    this.evictAt = this.queuedEvictAt = Infinity;
    this.queued = false;
  }
}

/** One level of the quota and the scopes of it in use, with the idle ones queued in the order they went idle. */
export class Level {
  readonly records = new Map<string, ScopeRecord>();
  /**
   * Records that went idle, oldest first, each at most once; eviction reads from `head`. A record
   * that got busy again is dropped when reached, one whose time was pushed back is queued again.
   */
  queue: ScopeRecord[] = [];
  head = 0;
  /** Forgotten records, to be made over (see `SPARE_RECORDS`). */
  readonly spare: ScopeRecord[] = [];
  /** Where the level's scopeBy was configured, for its warnings. */
  readonly scopeByField: string;
  /** The scopes with their own gauge series (at most `maxReportedScopes`), for the life of the quota. */
  readonly reportedScopes = new Set<string>();

  constructor(readonly config: LevelConfig) {
    this.scopeByField = config.implicit ? 'quota.scopeBy' : `quota.levels '${config.name}' scopeBy`;
  }

  /** The name on denials and gauges: none for the one level of a quota without `levels`. */
  get reportedName(): string | undefined {
    return this.config.implicit ? undefined : this.config.name;
  }

  /** The store key of one of this level's scopes. */
  keyOf(scope: string): string {
    return this.config.implicit ? scope : `${this.config.name}:${scope}`;
  }

  /**
   * When a scope that has just gone idle may be forgotten: once every window it counted in has
   * closed and, if it counts something that never resets, once `idleTtlMs` has passed (never
   * without one). The scope of a `'global'` level is never forgotten.
   */
  evictAt(record: ScopeRecord, now: number): number {
    const { keepsLifetimeCounts, idleTtlMs, windows, oneScope } = this.config;
    // A level with one scope has nothing to bound, and its counts are worth keeping in view.
    if (oneScope) return Infinity;
    let at = now;
    if (keepsLifetimeCounts) {
      if (idleTtlMs === undefined) return Infinity;
      at += idleTtlMs;
    }
    for (const window of windows) at = Math.max(at, window.expiresAt(record.lastAdmittedAt));
    return at;
  }
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
  readonly #levels: readonly Level[];
  #unaccounted = 0;
  #budgetSerial = 0;

  constructor(options: QuotaOptions) {
    this.#config = parseQuotaOptions(options);
    this.mode = this.#config.mode;
    this.#enforce = this.mode === 'enforce';
    this.store = this.#config.store ?? new MemoryQuotaStore();
    this.#levels = this.#config.levels.map((level) => new Level(level));
    for (const level of this.#config.levels) {
      if (level.keepsLifetimeCounts && level.idleTtlMs === undefined && !level.oneScope) {
        logger.warn(
          `quota level '${level.name}' has limits that never reset and no idleTtlMs: each of its scopes is kept for the life of the process; set idleTtlMs or use windows to bound memory`,
        );
      }
    }
    this.view = Object.freeze({
      mode: this.mode,
      limits: Object.freeze({ ...this.#config.limits }),
      levels: Object.freeze(
        this.#config.levels.map((level) =>
          Object.freeze({ name: level.name, limits: Object.freeze({ ...level.limits }), windows: level.windowOptions, idleTtlMs: level.idleTtlMs }),
        ),
      ),
      snapshot: (scope?: string, level?: string) => this.snapshot(scope, level),
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
    const now = Date.now();
    this.#evictIdle(now);
    // The nearest enclosing run this quota admitted (another AgentMeter's runs have their own budgets).
    let parent = request.parent;
    while (parent !== undefined && parent.ticket?.quota !== this) parent = parent.parent;
    const parentTicket = parent?.ticket;
    const records = parentTicket === undefined ? this.#recordsFor(spec) : this.#recordsNow(parentTicket, true);
    const innermost = records[records.length - 1]!;
    const scope = innermost.scope;
    const parentLimits = parentTicket?.limits ?? this.#config.limits;
    let nodes: readonly BudgetNode[];
    if (parentTicket === undefined) {
      // A fresh one-element array is cheaper than reading a stored one back from a cold cache line.
      nodes = records.length === 1 ? [innermost.node] : records.map((record) => record.node);
    } else if (records === parentTicket.records) {
      nodes = parentTicket.nodes;
    } else {
      // A late child of a finished run: its scopes' nodes as they are now (a scope may have been forgotten since), then the budgets above it.
      nodes = [...records.map((record) => record.node), ...parentTicket.nodes.slice(records.length)];
    }
    let limits = parentLimits;
    if (spec.budget !== undefined) {
      // Validated by the run's spec already; parsed again only to strip what is not a limit.
      const budget = parseLimits(spec.budget, 'budget');
      try {
        limits = narrowLimits(parentLimits, budget, spec.name);
      } catch (error) {
        // A budget above its parent's: the scopes found for this run go idle as they came.
        this.#idleIfUnused(records, now);
        throw error;
      }
      const own = this.#node({ key: `${innermost.node.key}/${spec.name}#${++this.#budgetSerial}`, limits: toLedgerLimits(budget), ephemeral: true });
      nodes = [...nodes, own];
    }

    if (limits.maxDepth !== undefined && depth > limits.maxDepth) {
      const error = new QuotaExceededError({
        resource: 'depth',
        scope,
        limit: limits.maxDepth,
        used: depth - 1,
        requested: 1,
        level: innermost.level.reportedName,
      });
      events.denied(error, this.mode);
      if (this.#enforce) {
        this.#idleIfUnused(records, now);
        throw error;
      }
    }

    const estimate = spec.estimate;
    // In flight from here, so that no eviction forgets a scope while its reservation is on the way.
    for (const record of records) this.#busy(record);
    let result: ReserveResult | Promise<ReserveResult>;
    try {
      result = this.store.reserve({
        nodes,
        estimate: { tokens: estimate?.tokens ?? 0, costNanos: usdToNanos(estimate?.costUsd ?? 0) },
        now,
        enforce: this.#enforce,
      });
    } catch (error) {
      this.#release(records, Date.now());
      throw error;
    }
    if (!isPromise(result)) return this.#admitted(result, spec.name, records, nodes, limits, events, now);
    return result.then(
      (settled) => this.#admitted(settled, spec.name, records, nodes, limits, events, now),
      (error: unknown) => {
        this.#release(records, Date.now());
        throw error;
      },
    );
  }

  /** The state of one scope of one level (default: `'global'` of the outermost level), as the gauges report it. */
  snapshot(scope: string = DEFAULT_SCOPE, levelName?: string): QuotaSnapshot {
    const level = levelName === undefined ? this.#levels[0]! : this.#levels.find((candidate) => candidate.config.name === levelName);
    if (level === undefined) {
      throw new RangeError(`agentmetry: quota.snapshot(): no level named '${levelName}' (levels: ${this.#levels.map((l) => l.config.name).join(', ')})`);
    }
    const now = Date.now();
    const state = this.store.read(level.keyOf(scope), now);
    const limits = level.config.ledgerLimits;
    const used = state?.used;
    const reserved = state?.reserved;
    const burn = readBurnRate(level.records.get(scope), state, now);
    const forecast = (resource: WindowResource, limit: number | undefined, usedAmount: number, reservedAmount: number): QuotaUsage => {
      const rate = ratePerSecond(burn, resource);
      return usage(limit, usedAmount, reservedAmount, rate, exhaustionOf(undefined, limit, usedAmount, reservedAmount, rate, now));
    };
    return {
      scope,
      level: level.config.name,
      executions: forecast('executions', limits.executions, used?.executions ?? 0, reserved?.executions ?? 0),
      tokens: forecast('tokens', limits.tokens, used?.tokens ?? 0, reserved?.tokens ?? 0),
      costUsd: forecast('costUsd', level.config.limits.maxCostUsd, nanosToUsd(used?.costNanos ?? 0), nanosToUsd(reserved?.costNanos ?? 0)),
      wallTimeMs: usage(limits.wallTimeMs, state?.startedAt === undefined ? 0 : now - state.startedAt, 0),
      concurrent: usage(limits.concurrent, reserved?.concurrent ?? 0, 0),
      windows: level.config.windows.map((window, index) => windowUsage(window, state?.windows?.[index], now, burn)),
    };
  }

  /** Runs a shared store admitted without accounting (`onUnavailable: 'allow'`). */
  unaccounted(): number {
    return this.#unaccounted;
  }

  /**
   * Visits the gauge values of every level: `global` and the first `maxReportedScopes` other
   * scopes of each level to be reported (in the order they appeared; they keep their own series
   * for the life of the quota, even once forgotten) by name, the rest summed as `other` (for
   * `exhaustion`, the soonest of theirs). Each read is a reading of the scopes' burn rates.
   */
  forEachGauge(visit: GaugeVisitor): void {
    const now = Date.now();
    for (const level of this.#levels) {
      const other = new Map<string, [kind: GaugeKind, resource: GaugeResource, window: string | undefined, value: number]>();
      const levelName = level.reportedName;
      const reported = level.reportedScopes;
      for (const record of level.records.values()) {
        const state = this.store.read(record.node.key, now);
        if (state === undefined) continue;
        const scope = record.scope;
        // The default scope always has its own series; it names no one. The first others to be
        // reported keep theirs for good, even once forgotten: the SDK repeats a series' last value
        // after it stops being observed, so handing the slot on would add a series each time.
        let own = scope === DEFAULT_SCOPE || reported.has(scope);
        if (!own && reported.size < this.#config.maxReportedScopes) {
          reported.add(scope);
          own = true;
        }
        const burn = readBurnRate(record, state, now);
        const emit = (kind: GaugeKind, resource: GaugeResource, window: string | undefined, value: number) => {
          if (own) {
            visit(kind, resource, scope, value, levelName, window);
            return;
          }
          const key = `${kind}\u0000${resource}\u0000${window ?? ''}`;
          const sum = other.get(key);
          if (sum === undefined) other.set(key, [kind, resource, window, value]);
          else sum[3] = kind === 'exhaustion' ? soonest(sum[3], value) : sum[3] + value;
        };
        for (const resource of GAUGE_RESOURCES) {
          const [limit, used, reserved] = gaugeValues(resource, state, now);
          if (resource === 'wallTimeMs' && limit === undefined) continue;
          if (limit !== undefined) emit('limit', resource, undefined, limit);
          emit('used', resource, undefined, used);
          emit('reserved', resource, undefined, reserved);
          if (limit !== undefined && isForecast(resource)) {
            const exhaustsAt = exhaustionOf(undefined, limit, used, reserved, ratePerSecond(burn, resource), now);
            emit('exhaustion', resource, undefined, secondsUntil(exhaustsAt, now));
          }
        }
        state.windows?.forEach(({ window, used, reserved }) => {
          for (const resource of WINDOW_RESOURCES) {
            const limit = windowLimit(window, resource);
            if (limit === undefined) continue;
            const scale = resource === 'costUsd' ? NANOS_PER_USD : 1;
            emit('limit', resource, window.label, limit / scale);
            emit('used', resource, window.label, amount(used, resource) / scale);
            emit('reserved', resource, window.label, amount(reserved, resource) / scale);
            const rate = burn?.perSecond(resource === 'costUsd' ? 'costNanos' : resource);
            const exhaustsAt = exhaustionOf(window, limit, amount(used, resource), amount(reserved, resource), rate, now);
            emit('exhaustion', resource, window.label, secondsUntil(exhaustsAt, now));
          }
        });
      }
      for (const [kind, resource, window, value] of other.values()) visit(kind, resource, OTHER_SCOPE, value, levelName, window);
    }
  }

  /**
   * A charge pushed a scope or budget past a hard limit: one denial per run, however many charges
   * follow, and the run stops (enforce mode). Then check warnings.
   */
  charged(ticket: QuotaTicket, violation: LedgerViolation | undefined): void {
    if (violation !== undefined && ticket.firstOverrun()) {
      const error = this.errorFor(violation, this.#recordsNow(ticket, false));
      ticket.events.denied(error, this.mode);
      if (this.#enforce) ticket.events.stopped(error);
    }
    this.#checkWarningsSafely(ticket.events, this.#recordsNow(ticket, false));
  }

  /**
   * A model call's worst case does not fit (or, observing, was held past a limit): count the
   * denial; enforcing, stop the run and refuse the call by throwing.
   */
  callRefused(ticket: QuotaTicket, violation: LedgerViolation, held: boolean): void {
    const error = this.errorFor(violation, this.#recordsNow(ticket, false));
    ticket.events.denied(error, this.mode);
    if (held) return;
    ticket.events.stopped(error);
    throw error;
  }

  /** A ticket was settled or cancelled: its scopes have one run fewer in flight, and its records may be made over once forgotten. */
  finished(ticket: QuotaTicket): void {
    this.#release(ticket.records, Date.now());
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

  /** The error for a store's violation, naming the level and scope (or the run budget) that tripped. */
  errorFor(violation: LedgerViolation, records: readonly ScopeRecord[]): QuotaExceededError {
    const scale = violation.resource === 'costUsd' ? NANOS_PER_USD : 1;
    const record = records.find((candidate) => candidate.node.key === violation.key);
    return new QuotaExceededError({
      resource: violation.resource,
      scope: record?.scope ?? violation.key,
      limit: violation.limit / scale,
      used: violation.used / scale,
      requested: violation.requested / scale,
      ...(record?.level.reportedName !== undefined && { level: record.level.reportedName }),
      ...(violation.window !== undefined && { window: violation.window }),
    });
  }

  #admitted(
    result: ReserveResult,
    name: string,
    records: readonly ScopeRecord[],
    nodes: readonly BudgetNode[],
    limits: QuotaLimits,
    events: QuotaRunEvents,
    now: number,
  ): QuotaTicket {
    if (!result.admitted) {
      this.#release(records, Date.now());
      const error = this.errorFor(result.violation, records);
      events.denied(error, this.mode);
      throw error;
    }
    for (const record of records) record.lastAdmittedAt = now;
    if (result.violation !== undefined) events.denied(this.errorFor(result.violation, records), this.mode);
    if (result.unaccounted === true) {
      this.#unaccounted += 1;
      logger.warn(`quota store ${this.store.name} is unavailable; run '${name}' admitted without accounting`);
    }
    const scope = records[records.length - 1]!.scope;
    const ticket = new QuotaTicket(this, scope, records, nodes, limits, result.lease, result.deadline, events);
    this.#checkWarningsSafely(events, records);
    return ticket;
  }

  #checkWarningsSafely(events: QuotaRunEvents, records: readonly ScopeRecord[]): void {
    if (this.#config.warnAt.length === 0) return;
    safeCall(logger, 'checking quota warnings', () => {
      const now = Date.now();
      for (const record of records) this.#checkWarnings(events, record, now);
    });
  }

  #checkWarnings(events: QuotaRunEvents, record: ScopeRecord, now: number): void {
    const state = this.store.read(record.node.key, now);
    if (state === undefined) return;
    const level = record.level.reportedName;
    for (let index = 0; index < WARN_RESOURCES.length; index++) {
      const resource = WARN_RESOURCES[index]!;
      this.#warn(
        events,
        record,
        resource,
        ledgerLimit(state, resource),
        ledgerHeld(state, resource),
        (record.nextWarning ??= WARN_RESOURCES.map(() => 0)),
        index,
        level,
        undefined,
      );
    }
    state.windows?.forEach(({ window, used, reserved }, windowIndex) => {
      record.windowWarnings ??= record.level.config.windows.map(() => ({ period: -1, next: WINDOW_RESOURCES.map(() => 0) }));
      const warnings = record.windowWarnings[windowIndex];
      if (warnings === undefined) return;
      // Each threshold fires once per calendar period, or once per window length of a rolling window.
      const period = window instanceof RollingWindow ? Math.floor(now / window.rollingMs) : window.bucketStart(now);
      if (warnings.period !== period) {
        warnings.period = period;
        warnings.next.fill(0);
      }
      for (let index = 0; index < WINDOW_RESOURCES.length; index++) {
        const resource = WINDOW_RESOURCES[index]!;
        const held = amount(used, resource) + amount(reserved, resource);
        this.#warn(events, record, resource, windowLimit(window, resource), held, warnings.next, index, level, window.label);
      }
    });
  }

  /** Fires every threshold of `warnAt` that `held` has reached and that has not fired yet. */
  #warn(
    events: QuotaRunEvents,
    record: ScopeRecord,
    resource: WindowResource,
    limit: number | undefined,
    held: number,
    next: number[],
    index: number,
    level: string | undefined,
    window: string | undefined,
  ): void {
    if (limit === undefined || limit === 0) return;
    const thresholds = this.#config.warnAt;
    while (next[index]! < thresholds.length && held >= thresholds[next[index]!]! * limit) {
      const threshold = thresholds[next[index]!]!;
      next[index]! += 1;
      const scale = resource === 'costUsd' ? NANOS_PER_USD : 1;
      events.warned({
        resource,
        threshold,
        scope: record.scope,
        used: held / scale,
        limit: limit / scale,
        ...(level !== undefined && { level }),
        ...(window !== undefined && { window }),
      });
    }
  }

  /** The scope of every level for a run with no parent in this quota, outermost first. */
  #recordsFor(spec: RunSpec): ScopeRecord[] {
    return this.#levels.map((level) => this.#record(level, this.#scopeOf(level, spec)));
  }

  /**
   * A ticket's scopes as they are now: its own records while it runs; once it finished, each
   * level's record of its scope, found by name (its own may have been forgotten and made over
   * since): made afresh for a late child (`make`), else only those still known.
   */
  #recordsNow(ticket: QuotaTicket, make: boolean): readonly ScopeRecord[] {
    if (!ticket.finished) return ticket.records;
    const scopes = ticket.scopes;
    const records: ScopeRecord[] = [];
    this.#levels.forEach((level, index) => {
      const record = make ? this.#record(level, scopes[index]!) : level.records.get(scopes[index]!);
      if (record !== undefined) records.push(record);
    });
    return records;
  }

  #scopeOf(level: Level, spec: RunSpec): string {
    if (level.config.oneScope) return DEFAULT_SCOPE;
    let scope: unknown;
    try {
      scope = level.config.scopeOf(spec);
    } catch (error) {
      logger.error(`${level.scopeByField} threw`, error);
    }
    if (typeof scope === 'string' && scope.length > 0) return scope;
    logger.warn(`${level.scopeByField} returned ${typeof scope === 'string' ? 'an empty string' : typeof scope}; using scope '${DEFAULT_SCOPE}'`);
    return DEFAULT_SCOPE;
  }

  #record(level: Level, scope: string): ScopeRecord {
    let record = level.records.get(scope);
    if (record === undefined) {
      const { ledgerLimits: limits, oneScope, keepsLifetimeCounts, idleTtlMs } = level.config;
      // How long a shared store keeps the scope's counts once idle: nothing beyond its windows to keep, the level's idleTtlMs, or for good.
      const node = this.#node({ key: level.keyOf(scope), limits, ephemeral: false, idleTtlMs: oneScope ? undefined : keepsLifetimeCounts ? idleTtlMs : 0 });
      record = level.spare.pop();
      if (record === undefined) record = new ScopeRecord(level, scope, node);
      else record.remake(scope, node);
      level.records.set(scope, record);
    }
    return record;
  }

  /** A run is being admitted in the scope: it is not idle any more (its queue entry is dropped when reached). */
  #busy(record: ScopeRecord): void {
    record.inFlight += 1;
  }

  /** A run left the scopes (it finished, was denied or failed to be admitted). */
  #release(records: readonly ScopeRecord[], now: number): void {
    for (const record of records) {
      record.inFlight -= 1;
      if (record.inFlight === 0) this.#goIdle(record, now);
    }
  }

  /** Scopes made for a run that was refused before it reached the store are idle from the start. */
  #idleIfUnused(records: readonly ScopeRecord[], now: number): void {
    for (const record of records) if (record.inFlight === 0 && !record.queued) this.#goIdle(record, now);
  }

  #goIdle(record: ScopeRecord, now: number): void {
    record.evictAt = record.level.evictAt(record, now);
    if (record.evictAt === Infinity || record.queued) return;
    record.queued = true;
    record.queuedEvictAt = record.evictAt;
    record.level.queue.push(record);
  }

  /**
   * Forgets idle scopes whose time has come, oldest idle first: each admission does the work of
   * the queue entries it finds due, so eviction costs O(1) amortised per run and needs no timer.
   */
  #evictIdle(now: number): void {
    for (const level of this.#levels) {
      const queue = level.queue;
      while (level.head < queue.length) {
        const record = queue[level.head]!;
        if (record.inFlight === 0 && record.evictAt > now) {
          // Not due: stop here, unless its time moved on since it was queued (it was busy meanwhile).
          if (record.evictAt === record.queuedEvictAt) break;
          record.queuedEvictAt = record.evictAt;
          queue.push(record);
        } else {
          record.queued = false;
          if (record.inFlight === 0 && level.records.get(record.scope) === record) {
            level.records.delete(record.scope);
            safeCall(logger, 'quota store forget', () => this.store.forget?.(record.node));
            if (level.spare.length < SPARE_RECORDS) level.spare.push(record);
          }
        }
        level.head += 1;
      }
      // Drop the consumed front once it is most of the array: O(1) amortised.
      if (level.head > 1024 && level.head * 2 > queue.length) {
        level.queue = queue.slice(level.head);
        level.head = 0;
      }
    }
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

function usage(limit: number | undefined, used: number, reserved: number, burnRatePerSecond?: number, exhaustsAt?: number): QuotaUsage {
  const remaining = limit === undefined ? undefined : Math.max(0, limit - used - reserved);
  // Absent rather than undefined, so that a snapshot without a forecast prints as it always did.
  return {
    limit,
    used,
    reserved,
    remaining,
    ...(burnRatePerSecond !== undefined && { burnRatePerSecond }),
    ...(exhaustsAt !== undefined && { exhaustsAt }),
  };
}

/** Takes a reading of a scope's consumption into its burn rate (made on the first read), and returns the burn rate. */
function readBurnRate(record: ScopeRecord | undefined, state: LedgerState | undefined, now: number): BurnRate | undefined {
  if (record === undefined || state === undefined) return undefined;
  record.burnRate ??= new BurnRate();
  record.burnRate.record(now, state.used);
  return record.burnRate;
}

/** A burn rate in user units (USD for `costUsd`) per second. */
function ratePerSecond(burn: BurnRate | undefined, resource: WindowResource): number | undefined {
  if (resource !== 'costUsd') return burn?.perSecond(resource);
  const nanos = burn?.perSecond('costNanos');
  return nanos === undefined ? undefined : nanos / NANOS_PER_USD;
}

/** When a limit of a window (none: the limit that never resets) runs out at `rate`; any one unit for all amounts. */
function exhaustionOf(
  window: BudgetWindow | undefined,
  limit: number | undefined,
  used: number,
  reserved: number,
  rate: number | undefined,
  now: number,
): number | undefined {
  if (window === undefined) return lifetimeExhaustion(now, limit, used + reserved, rate);
  if (window instanceof RollingWindow) return rollingExhaustion(now, limit, used + reserved, used, rate, window.rollingMs);
  return calendarExhaustion(now, limit, used + reserved, rate, window.bucketEnd(now));
}

function isForecast(resource: GaugeResource): resource is WindowResource {
  return resource === 'executions' || resource === 'tokens' || resource === 'costUsd';
}

/** The `exhaustion` gauge's value: seconds until `exhaustsAt`, or -1 when no exhaustion is projected. */
function secondsUntil(exhaustsAt: number | undefined, now: number): number {
  return exhaustsAt === undefined ? -1 : Math.max(0, exhaustsAt - now) / 1000;
}

/** The sooner of two `exhaustion` values, -1 (none projected) counting as never. */
function soonest(a: number, b: number): number {
  if (a < 0) return b;
  if (b < 0) return a;
  return Math.min(a, b);
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

function windowLimit(window: BudgetWindow, resource: WindowResource): number | undefined {
  return resource === 'costUsd' ? window.limits.costNanos : window.limits[resource];
}

function amount(amounts: LedgerAmounts, resource: WindowResource): number {
  return resource === 'costUsd' ? amounts.costNanos : amounts[resource];
}

function windowUsage(window: BudgetWindow, state: WindowState | undefined, now: number, burn: BurnRate | undefined): QuotaWindowUsage {
  const scaled = (resource: WindowResource): QuotaUsage => {
    const scale = resource === 'costUsd' ? NANOS_PER_USD : 1;
    const ledgerLimit = windowLimit(window, resource);
    const limit = ledgerLimit === undefined ? undefined : ledgerLimit / scale;
    const used = state === undefined ? 0 : amount(state.used, resource) / scale;
    const reserved = state === undefined ? 0 : amount(state.reserved, resource) / scale;
    const rate = ratePerSecond(burn, resource);
    return usage(limit, used, reserved, rate, exhaustionOf(window, limit, used, reserved, rate, now));
  };
  return {
    window: window.label,
    // A calendar window frees everything at its end; a rolling one frees its oldest bucket at the end of the current one.
    resetsAt: window instanceof CalendarWindow ? window.bucketEnd(now) : window.bucketEnd(now),
    executions: scaled('executions'),
    tokens: scaled('tokens'),
    costUsd: scaled('costUsd'),
  };
}
