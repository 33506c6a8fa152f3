import type { QuotaResource } from '../semconv.js';
import type { QuotaLimits, QuotaMode, QuotaOptions, QuotaScopeBy, RunSpec } from '../types.js';
import type { LedgerLimits, QuotaStore } from './store.js';
import { isObject } from '../is-object.js';
import { MAX_LEDGER_USD, usdToNanos } from '../money.js';

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
const OPTION_KEYS = ['limits', 'scopeBy', 'warnAt', 'mode', 'store', 'maxReportedScopes'];
const MODES: readonly QuotaMode[] = ['enforce', 'observe'];

export const DEFAULT_SCOPE = 'global';

export interface QuotaConfig {
  limits: QuotaLimits;
  ledgerLimits: LedgerLimits;
  scopeOf: (spec: RunSpec) => string;
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
  const limits = parseLimits(options.limits ?? {}, 'quota.limits');
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
    limits,
    ledgerLimits: toLedgerLimits(limits),
    scopeOf: parseScopeBy(options.scopeBy ?? 'global'),
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

function parseScopeBy(scopeBy: QuotaScopeBy): (spec: RunSpec) => string {
  if (scopeBy === 'global') return () => DEFAULT_SCOPE;
  if (scopeBy === 'conversation') return (spec) => spec.conversationId ?? DEFAULT_SCOPE;
  if (typeof scopeBy === 'function') return scopeBy;
  throw new TypeError(`agentmetry: quota.scopeBy must be 'global', 'conversation' or a function, got ${describe(scopeBy)}`);
}

function describe(value: unknown): string {
  if (typeof value === 'string') return `'${value}'`;
  if (typeof value === 'number' || typeof value === 'boolean' || value === undefined || value === null) return String(value);
  if (typeof value === 'function') return 'a function';
  if (Array.isArray(value)) return 'an array';
  return typeof value;
}
