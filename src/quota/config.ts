import type { QuotaResource } from '../semconv.js';
import type { QuotaLimits, QuotaMode, QuotaOptions, QuotaScopeBy, RunSpec } from '../types.js';
import type { LedgerLimits, QuotaStore } from './store.js';
import type { CalendarQuotaWindow, QuotaLevel, QuotaWindow, RollingQuotaWindow } from './window-options.js';
import { isObject } from '../is-object.js';
import { MAX_LEDGER_USD, usdToNanos } from '../money.js';
import { BudgetWindow, CALENDAR_PERIODS, CalendarWindow, RollingWindow, type WindowLimits } from './windows.js';

type LimitKey = keyof QuotaLimits;

interface LimitRule {
  resource: QuotaResource;
  integer: boolean;
  /** The largest value a ledger counts exactly, where lower than what a number holds. */
  max?: number;
}

/** Each limit, the resource it guards and whether it counts whole things. */
const LIMIT_RULES: Readonly<Record<LimitKey, LimitRule>> = {
  maxExecutions: { resource: 'executions', integer: true },
  maxTokens: { resource: 'tokens', integer: true },
  maxCostUsd: { resource: 'costUsd', integer: false, max: MAX_LEDGER_USD },
  maxWallTimeMs: { resource: 'wallTimeMs', integer: false },
  maxConcurrent: { resource: 'concurrent', integer: true },
  maxDepth: { resource: 'depth', integer: true },
  maxTurnsPerRun: { resource: 'turns', integer: true },
  maxDurationMsPerRun: { resource: 'duration', integer: false },
};

const LIMIT_KEYS = Object.keys(LIMIT_RULES) as LimitKey[];
const LEVEL_KEYS = ['limits', 'windows', 'scopeBy', 'idleTtlMs'] as const;
const OPTION_KEYS = [...LEVEL_KEYS, 'levels', 'warnAt', 'mode', 'store', 'maxReportedScopes'];
const WINDOW_LIMIT_KEYS = ['maxExecutions', 'maxTokens', 'maxCostUsd'] as const;
const CALENDAR_WINDOW_KEYS = ['per', 'timeZone', ...WINDOW_LIMIT_KEYS];
const ROLLING_WINDOW_KEYS = ['rollingMs', 'buckets', ...WINDOW_LIMIT_KEYS];
const DEFAULT_BUCKETS = 20;
const LEVEL_NAME = /^[A-Za-z0-9_.-]+$/;
/** The name of the one level a quota without `levels` has. */
export const DEFAULT_LEVEL = 'default';
const MODES: readonly QuotaMode[] = ['enforce', 'observe'];

export const DEFAULT_SCOPE = 'global';

/** One level of the quota: how it finds a run's scope, and each scope's limits. */
export interface LevelConfig {
  readonly name: string;
  /** The only level, from the top-level options: its node keys are the scope keys themselves. */
  readonly implicit: boolean;
  readonly scopeOf: (spec: RunSpec) => string;
  /** `scopeBy: 'global'`: the level has one scope. */
  readonly oneScope: boolean;
  readonly limits: QuotaLimits;
  /** Lifetime limits and windows, in ledger units. */
  readonly ledgerLimits: LedgerLimits;
  readonly windows: readonly BudgetWindow[];
  readonly windowOptions: readonly QuotaWindow[];
  readonly idleTtlMs: number | undefined;
  /** Its scopes count something that never resets (executions, tokens, cost, wall time): eviction forgets it. */
  readonly keepsLifetimeCounts: boolean;
}

export interface QuotaConfig {
  /** Outermost first. */
  levels: LevelConfig[];
  /** The limits every run starts from: per limit, the lowest any level sets. */
  limits: QuotaLimits;
  warnAt: number[];
  mode: QuotaMode;
  store: QuotaStore | undefined;
  maxReportedScopes: number;
}

/** Validates quota options at construction; every error names the field and what it expected. */
export function parseQuotaOptions(options: QuotaOptions): QuotaConfig {
  if (!isObject(options)) throw new TypeError(`agentmetry: quota must be an object, got ${describe(options)}`);
  for (const key of Object.keys(options)) {
    if (!OPTION_KEYS.includes(key)) throw new TypeError(`agentmetry: quota.${key} is not a known option (expected one of ${OPTION_KEYS.join(', ')})`);
  }
  const levels = parseLevels(options);
  const mode = options.mode ?? 'enforce';
  if (!MODES.includes(mode)) throw new TypeError(`agentmetry: quota.mode must be 'enforce' or 'observe', got ${describe(mode)}`);
  const warnAt = options.warnAt ?? [];
  if (!Array.isArray(warnAt)) throw new TypeError(`agentmetry: quota.warnAt must be an array of fractions in (0, 1], got ${describe(warnAt)}`);
  warnAt.forEach((threshold, index) => {
    if (typeof threshold !== 'number' || !(threshold > 0 && threshold <= 1)) {
      throw new RangeError(`agentmetry: quota.warnAt[${index}] must be a number in (0, 1], got ${describe(threshold)}`);
    }
  });
  // Scope keys from 'conversation' or a function may be identifiers (a user, a tenant, a
  // conversation): they become `quota.scope` values only when asked for. 'global' has no others.
  const maxReportedScopes = options.maxReportedScopes ?? 0;
  if (!Number.isInteger(maxReportedScopes) || maxReportedScopes < 0) {
    throw new RangeError(`agentmetry: quota.maxReportedScopes must be a non-negative integer, got ${describe(maxReportedScopes)}`);
  }
  const store = options.store;
  if (store !== undefined && (!isObject(store) || typeof store.reserve !== 'function')) {
    throw new TypeError(`agentmetry: quota.store must implement QuotaStore (reserve, charge, settle, read, scopes), got ${describe(store)}`);
  }
  return {
    levels,
    limits: lowestLimits(levels.map((level) => level.limits)),
    warnAt: [...new Set(warnAt)].sort((a, b) => a - b),
    mode,
    store,
    maxReportedScopes,
  };
}

/** Validates a limits object (`quota.limits` or a run's `budget`). */
export function parseLimits(limits: QuotaLimits, field: string): QuotaLimits {
  if (!isObject(limits) || Array.isArray(limits)) {
    throw new TypeError(`agentmetry: ${field} must be an object, got ${describe(limits)}`);
  }
  const parsed: QuotaLimits = {};
  for (const [key, value] of Object.entries(limits)) {
    // Own keys only: `toString` or `constructor` is no limit, whatever the prototype says.
    const rule = Object.hasOwn(LIMIT_RULES, key) ? (LIMIT_RULES as Readonly<Record<string, LimitRule>>)[key] : undefined;
    if (rule === undefined) throw new TypeError(`agentmetry: ${field}.${key} is not a known limit (expected one of ${LIMIT_KEYS.join(', ')})`);
    if (value === undefined) continue;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || (rule.integer && !Number.isInteger(value))) {
      const expected = rule.integer ? 'a non-negative integer' : 'a non-negative finite number';
      throw new RangeError(`agentmetry: ${field}.${key} must be ${expected}, got ${describe(value)}`);
    }
    if (rule.max !== undefined && value > rule.max) {
      throw new RangeError(`agentmetry: ${field}.${key} must be at most ${rule.max} (counted in integer nano-dollars), got ${describe(value)}`);
    }
    parsed[key as LimitKey] = value;
  }
  return parsed;
}

export function toLedgerLimits(limits: QuotaLimits): LedgerLimits {
  const ledger: LedgerLimits = {};
  if (limits.maxExecutions !== undefined) ledger.executions = limits.maxExecutions;
  if (limits.maxTokens !== undefined) ledger.tokens = limits.maxTokens;
  if (limits.maxCostUsd !== undefined) ledger.costNanos = usdToNanos(limits.maxCostUsd);
  if (limits.maxConcurrent !== undefined) ledger.concurrent = limits.maxConcurrent;
  if (limits.maxWallTimeMs !== undefined) ledger.wallTimeMs = limits.maxWallTimeMs;
  return ledger;
}

/** `quota.levels`, or the one level the top-level `limits`, `windows`, `scopeBy` and `idleTtlMs` describe. */
function parseLevels(options: QuotaOptions): LevelConfig[] {
  if (options.levels === undefined) return [parseLevel({ ...pick(options), name: DEFAULT_LEVEL }, 'quota', true)];
  const levels = options.levels;
  if (!Array.isArray(levels) || levels.length === 0) {
    throw new TypeError(`agentmetry: quota.levels must be a non-empty array of levels, got ${describe(levels)}`);
  }
  const mixed = LEVEL_KEYS.filter((key) => options[key] !== undefined);
  if (mixed.length > 0) {
    throw new TypeError(`agentmetry: quota.${mixed[0]} cannot be combined with quota.levels; give each level its own ${LEVEL_KEYS.join(', ')}`);
  }
  const names = new Set<string>();
  return levels.map((level, index) => {
    const field = `quota.levels[${index}]`;
    if (!isObject(level)) throw new TypeError(`agentmetry: ${field} must be an object, got ${describe(level)}`);
    for (const key of Object.keys(level)) {
      if (key !== 'name' && !(LEVEL_KEYS as readonly string[]).includes(key)) {
        throw new TypeError(`agentmetry: ${field}.${key} is not a known option (expected one of name, ${LEVEL_KEYS.join(', ')})`);
      }
    }
    if (typeof level.name !== 'string' || !LEVEL_NAME.test(level.name)) {
      throw new TypeError(`agentmetry: ${field}.name must be letters, digits, '_', '-' or '.', got ${describe(level.name)}`);
    }
    if (names.has(level.name)) throw new TypeError(`agentmetry: ${field}.name '${level.name}' is used by an earlier level; level names must differ`);
    names.add(level.name);
    return parseLevel(level, field, false);
  });
}

function pick(options: QuotaOptions): Omit<QuotaLevel, 'name'> {
  return { limits: options.limits, windows: options.windows, scopeBy: options.scopeBy, idleTtlMs: options.idleTtlMs };
}

function parseLevel(level: QuotaLevel, field: string, implicit: boolean): LevelConfig {
  const limits = parseLimits(level.limits ?? {}, `${field}.limits`);
  const windowOptions = level.windows ?? [];
  if (!Array.isArray(windowOptions)) throw new TypeError(`agentmetry: ${field}.windows must be an array of windows, got ${describe(windowOptions)}`);
  const windows = windowOptions.map((window, index) => parseWindow(window, `${field}.windows[${index}]`));
  const labels = new Set<string>();
  windows.forEach((window, index) => {
    if (labels.has(window.label)) {
      throw new TypeError(`agentmetry: ${field}.windows[${index}] repeats the window '${window.label}'; put all its limits in one entry`);
    }
    labels.add(window.label);
  });
  const idleTtlMs = level.idleTtlMs;
  if (idleTtlMs !== undefined && (typeof idleTtlMs !== 'number' || !Number.isFinite(idleTtlMs) || idleTtlMs < 0)) {
    throw new RangeError(`agentmetry: ${field}.idleTtlMs must be a non-negative finite number of milliseconds, got ${describe(idleTtlMs)}`);
  }
  const ledgerLimits = toLedgerLimits(limits);
  if (windows.length > 0) ledgerLimits.windows = windows;
  const keepsLifetimeCounts =
    ledgerLimits.executions !== undefined || ledgerLimits.tokens !== undefined || ledgerLimits.costNanos !== undefined || ledgerLimits.wallTimeMs !== undefined;
  return {
    name: level.name,
    implicit,
    scopeOf: parseScopeBy(level.scopeBy ?? 'global', `${field}.scopeBy`),
    oneScope: (level.scopeBy ?? 'global') === 'global',
    limits,
    ledgerLimits,
    windows,
    windowOptions: windowOptions.map((window) => Object.freeze({ ...window })),
    idleTtlMs,
    keepsLifetimeCounts,
  };
}

function parseWindow(window: QuotaWindow, field: string): BudgetWindow {
  if (!isObject(window) || Array.isArray(window)) throw new TypeError(`agentmetry: ${field} must be an object, got ${describe(window)}`);
  // Read as plain fields: a JavaScript caller may give both kinds' keys, or neither.
  const given = window as Partial<CalendarQuotaWindow & RollingQuotaWindow>;
  const calendar = given.per !== undefined;
  const rolling = given.rollingMs !== undefined;
  if (calendar === rolling) {
    throw new TypeError(`agentmetry: ${field} must have either 'per' (a calendar window) or 'rollingMs' (a rolling window)${calendar ? ', not both' : ''}`);
  }
  const keys = calendar ? CALENDAR_WINDOW_KEYS : ROLLING_WINDOW_KEYS;
  for (const key of Object.keys(window)) {
    if (!keys.includes(key)) {
      const hint = Object.hasOwn(LIMIT_RULES, key) ? ` (${key} does not accumulate, so it has no window; set it in limits)` : '';
      throw new TypeError(`agentmetry: ${field}.${key} is not a known window option (expected one of ${keys.join(', ')})${hint}`);
    }
  }
  const limits = parseLimits(Object.fromEntries(WINDOW_LIMIT_KEYS.map((key) => [key, given[key]])), field);
  const ledger: WindowLimits = {
    ...(limits.maxExecutions !== undefined && { executions: limits.maxExecutions }),
    ...(limits.maxTokens !== undefined && { tokens: limits.maxTokens }),
    ...(limits.maxCostUsd !== undefined && { costNanos: usdToNanos(limits.maxCostUsd) }),
  };
  if (Object.keys(ledger).length === 0) throw new TypeError(`agentmetry: ${field} sets no limit (expected at least one of ${WINDOW_LIMIT_KEYS.join(', ')})`);
  if (given.per !== undefined) {
    if (!CALENDAR_PERIODS.includes(given.per)) {
      throw new TypeError(`agentmetry: ${field}.per must be one of ${CALENDAR_PERIODS.map((p) => `'${p}'`).join(', ')}, got ${describe(given.per)}`);
    }
    return new CalendarWindow(given.per, parseTimeZone(given.timeZone, `${field}.timeZone`), ledger);
  }
  const { rollingMs, buckets = DEFAULT_BUCKETS } = given as { rollingMs: unknown; buckets?: unknown };
  if (typeof rollingMs !== 'number' || !Number.isInteger(rollingMs) || rollingMs < 1_000) {
    throw new RangeError(`agentmetry: ${field}.rollingMs must be a whole number of milliseconds, at least 1000, got ${describe(rollingMs)}`);
  }
  if (typeof buckets !== 'number' || !Number.isInteger(buckets) || buckets < 1 || buckets > 1_000) {
    throw new RangeError(`agentmetry: ${field}.buckets must be an integer from 1 to 1000, got ${describe(buckets)}`);
  }
  if (rollingMs % buckets !== 0) {
    throw new RangeError(
      `agentmetry: ${field}.rollingMs (${rollingMs}) must divide into ${buckets} buckets of whole milliseconds; change rollingMs or buckets`,
    );
  }
  return new RollingWindow(rollingMs, buckets, ledger);
}

function parseTimeZone(timeZone: unknown, field: string): string {
  if (timeZone === undefined) return 'UTC';
  if (typeof timeZone !== 'string')
    throw new TypeError(`agentmetry: ${field} must be an IANA time zone name such as 'Europe/Paris', got ${describe(timeZone)}`);
  try {
    // The zone's canonical name, so that 'utc' and 'UTC' or an alias and its zone are one window.
    const canonical = new Intl.DateTimeFormat('en-US', { timeZone }).resolvedOptions().timeZone;
    return canonical === 'Etc/UTC' || canonical === 'Etc/GMT' ? 'UTC' : canonical;
  } catch {
    throw new RangeError(`agentmetry: ${field} must be an IANA time zone name such as 'Europe/Paris', got ${describe(timeZone)}`);
  }
}

/** Per limit, the lowest value any of the limit sets gives. */
function lowestLimits(sets: readonly QuotaLimits[]): QuotaLimits {
  const lowest: QuotaLimits = {};
  for (const limits of sets) {
    for (const key of Object.keys(limits) as LimitKey[]) {
      const value = limits[key]!;
      if (lowest[key] === undefined || value < lowest[key]) lowest[key] = value;
    }
  }
  return lowest;
}

function parseScopeBy(scopeBy: QuotaScopeBy, field: string): (spec: RunSpec) => string {
  if (scopeBy === 'global') return () => DEFAULT_SCOPE;
  if (scopeBy === 'conversation') return (spec) => spec.conversationId ?? DEFAULT_SCOPE;
  if (typeof scopeBy === 'function') return scopeBy;
  throw new TypeError(`agentmetry: ${field} must be 'global', 'conversation' or a function, got ${describe(scopeBy)}`);
}

function describe(value: unknown): string {
  if (typeof value === 'string') return `'${value}'`;
  if (typeof value === 'number' || typeof value === 'boolean' || value === undefined || value === null) return String(value);
  if (typeof value === 'function') return 'a function';
  if (Array.isArray(value)) return 'an array';
  return typeof value;
}
