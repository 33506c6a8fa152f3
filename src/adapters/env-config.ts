import type { QuotaLimits, QuotaOptions } from '../index.js';
import { parseLimits } from '../quota/config.js';

/** Adapters that `agentmetry/register` knows, by the name used in `AGENTMETRY_ADAPTERS`. */
export const ADAPTER_NAMES = ['ai-sdk', 'openai-agents', 'langchain', 'mastra'] as const;
export type AdapterName = (typeof ADAPTER_NAMES)[number];

/** What `agentmetry/register` does, read from the environment. */
export interface RegisterConfig {
  enabled: boolean;
  prometheus: { host: string; port: number } | false;
  adapters: AdapterName[];
  topLevel: boolean;
  quota: QuotaOptions | undefined;
  /** `OTEL_LOG_LEVEL`, when set: the diag logger level. */
  logLevel: string | undefined;
  /**
   * One line per variable that was ignored: its value is invalid (the line names the variable,
   * the value, what was expected and what applies instead), or it is no variable agentmetry reads.
   */
  warnings: string[];
}

interface LimitVariable {
  limit: keyof QuotaLimits;
  /** What a valid value is: the core's rule for the limit (`parseLimits` decides). */
  expected: string;
  /** What goes unlimited when the variable is ignored, as in `no token limit applies`. */
  noun: string;
}

const INTEGER = 'a non-negative integer';
const NUMBER = 'a non-negative number';

/** `AGENTMETRY_*` quota variables and the limit each sets. */
export const QUOTA_LIMIT_VARIABLES: Readonly<Record<string, LimitVariable>> = {
  AGENTMETRY_MAX_EXECUTIONS: { limit: 'maxExecutions', expected: INTEGER, noun: 'execution' },
  AGENTMETRY_MAX_TOKENS: { limit: 'maxTokens', expected: INTEGER, noun: 'token' },
  AGENTMETRY_MAX_COST_USD: { limit: 'maxCostUsd', expected: NUMBER, noun: 'cost' },
  AGENTMETRY_MAX_WALL_TIME_MS: { limit: 'maxWallTimeMs', expected: NUMBER, noun: 'wall-time' },
  AGENTMETRY_MAX_CONCURRENT: { limit: 'maxConcurrent', expected: INTEGER, noun: 'concurrency' },
  AGENTMETRY_MAX_DEPTH: { limit: 'maxDepth', expected: INTEGER, noun: 'depth' },
  AGENTMETRY_MAX_TURNS_PER_RUN: { limit: 'maxTurnsPerRun', expected: INTEGER, noun: 'turn' },
  AGENTMETRY_MAX_DURATION_MS_PER_RUN: { limit: 'maxDurationMsPerRun', expected: NUMBER, noun: 'run-duration' },
};

/** The other quota variables, read only when a limit is set. */
const QUOTA_VARIABLES = ['AGENTMETRY_QUOTA_SCOPE_BY', 'AGENTMETRY_QUOTA_MODE', 'AGENTMETRY_QUOTA_WARN_AT'];

const LOG_LEVELS = ['none', 'error', 'warn', 'info', 'debug', 'verbose', 'all'];

/**
 * Reads the register entry's configuration. Never throws: a variable with an invalid value
 * is ignored (its default applies) and reported in `warnings`, and so is a variable named like a
 * quota variable (`AGENTMETRY_MAX_*`, `AGENTMETRY_QUOTA_*`) that agentmetry does not read, such as
 * `AGENTMETRY_MAX_TOKEN`: a misspelt budget must not go unnoticed.
 */
export function readRegisterConfig(env: Record<string, string | undefined>): RegisterConfig {
  const warnings: string[] = [];
  const flag = (name: string, fallback: boolean): boolean => {
    const raw = env[name]?.trim().toLowerCase();
    if (raw === undefined || raw === '') return fallback;
    if (['true', '1', 'yes', 'on'].includes(raw)) return true;
    if (['false', '0', 'no', 'off'].includes(raw)) return false;
    warnings.push(`${name}=${env[name]} is not a boolean (true or false); using ${fallback}`);
    return fallback;
  };
  const port = (name: string, fallback: number): number => {
    const raw = env[name]?.trim();
    if (raw === undefined || raw === '') return fallback;
    const value = Number(raw);
    if (Number.isInteger(value) && value >= 0 && value <= 65535) return value;
    warnings.push(`${name}=${env[name]} is not a port (an integer from 0 to 65535); using ${fallback}`);
    return fallback;
  };

  const enabled = flag('AGENTMETRY_ENABLED', true) && !flag('OTEL_SDK_DISABLED', false);

  const host = env.AGENTMETRY_PROMETHEUS_HOST?.trim() || '127.0.0.1';
  const prometheusPort = port('AGENTMETRY_PROMETHEUS_PORT', 9464);
  const prometheus = flag('AGENTMETRY_PROMETHEUS', true) ? { host, port: prometheusPort } : false;

  let adapters: AdapterName[] = [...ADAPTER_NAMES];
  const adapterList = env.AGENTMETRY_ADAPTERS?.trim();
  if (adapterList !== undefined && adapterList !== '') {
    const names =
      adapterList.toLowerCase() === 'none'
        ? []
        : adapterList
            .split(',')
            .map((name) => name.trim())
            .filter((name) => name !== '');
    const unknown = names.filter((name) => !(ADAPTER_NAMES as readonly string[]).includes(name));
    adapters = names.filter((name): name is AdapterName => (ADAPTER_NAMES as readonly string[]).includes(name));
    if (unknown.length > 0) {
      warnings.push(
        `AGENTMETRY_ADAPTERS=${env.AGENTMETRY_ADAPTERS} names unknown adapters (${unknown.join(', ')}), expected a comma-separated list of ${ADAPTER_NAMES.join(', ')} or none; installing ${adapters.join(', ') || 'none'}`,
      );
    }
  }

  const limits: QuotaLimits = {};
  let limitVariables = 0;
  for (const [name, { limit, expected, noun }] of Object.entries(QUOTA_LIMIT_VARIABLES)) {
    const raw = env[name]?.trim();
    if (raw === undefined || raw === '') continue;
    limitVariables++;
    try {
      // The core's own check, so that a value it would refuse is dropped alone, not with every limit.
      Object.assign(limits, parseLimits({ [limit]: Number(raw) }, 'quota.limits'));
    } catch {
      warnings.push(`${name}=${env[name]} is not ${expected}; ignored: no ${noun} limit applies`);
    }
  }
  warnings.push(...unknownQuotaVariables(env));

  const quota: QuotaOptions = { limits };
  const scopeBy = env.AGENTMETRY_QUOTA_SCOPE_BY?.trim();
  if (scopeBy === 'global' || scopeBy === 'conversation') quota.scopeBy = scopeBy;
  else if (scopeBy) warnings.push(`AGENTMETRY_QUOTA_SCOPE_BY=${scopeBy} is not global or conversation; using global`);
  const mode = env.AGENTMETRY_QUOTA_MODE?.trim();
  if (mode === 'enforce' || mode === 'observe') quota.mode = mode;
  else if (mode) warnings.push(`AGENTMETRY_QUOTA_MODE=${mode} is not enforce or observe; using enforce`);
  const warnAt = env.AGENTMETRY_QUOTA_WARN_AT?.trim();
  if (warnAt) {
    const thresholds = warnAt.split(',').map((part) => Number(part.trim()));
    if (thresholds.every((value) => value > 0 && value <= 1)) quota.warnAt = thresholds;
    else warnings.push(`AGENTMETRY_QUOTA_WARN_AT=${warnAt} is not a comma-separated list of fractions in (0, 1]; ignored: no quota warnings`);
  }
  const hasLimits = Object.keys(limits).length > 0;
  if (!hasLimits && (limitVariables > 0 || QUOTA_VARIABLES.some((name) => env[name]?.trim()))) {
    warnings.push('no AGENTMETRY_MAX_* variable sets a valid limit: the app runs without quotas');
  }

  let logLevel = env.OTEL_LOG_LEVEL?.trim().toLowerCase() || undefined;
  if (logLevel !== undefined && !LOG_LEVELS.includes(logLevel)) {
    warnings.push(`OTEL_LOG_LEVEL=${env.OTEL_LOG_LEVEL} is not one of ${LOG_LEVELS.join(', ')}; no diag logger is installed`);
    logLevel = undefined;
  }

  return { enabled, prometheus, adapters, topLevel: flag('AGENTMETRY_TOP_LEVEL', true), quota: hasLimits ? quota : undefined, logLevel, warnings };
}

/** `AGENTMETRY_MAX_*` and `AGENTMETRY_QUOTA_*` variables that are set but are not variables agentmetry reads. */
function unknownQuotaVariables(env: Record<string, string | undefined>): string[] {
  const known = [...Object.keys(QUOTA_LIMIT_VARIABLES), ...QUOTA_VARIABLES];
  return Object.keys(env)
    .filter((name) => /^AGENTMETRY_(MAX|QUOTA)_/.test(name) && !known.includes(name) && env[name]?.trim())
    .sort()
    .map((name) => `${name} is not a variable agentmetry reads (did you mean ${closest(name, known)}?); ignored`);
}

/** The candidate that shares the longest prefix with `name`. */
function closest(name: string, candidates: readonly string[]): string {
  const shared = (candidate: string) => {
    let length = 0;
    while (length < name.length && name[length] === candidate[length]) length++;
    return length;
  };
  return candidates.reduce((best, candidate) => (shared(candidate) > shared(best) ? candidate : best));
}
