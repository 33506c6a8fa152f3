import type { QuotaLimits, QuotaOptions } from '../index.js';

/** Adapters that `agentmetry/register` knows, by the name used in `AGENTMETRY_ADAPTERS`. */
export const ADAPTER_NAMES = ['ai-sdk', 'openai-agents'] as const;
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
  /** One line per variable that was ignored because its value is invalid. */
  warnings: string[];
}

/** `AGENTMETRY_*` quota variables and the limit each sets. */
export const QUOTA_LIMIT_VARIABLES: Record<string, keyof QuotaLimits> = {
  AGENTMETRY_MAX_EXECUTIONS: 'maxExecutions',
  AGENTMETRY_MAX_TOKENS: 'maxTokens',
  AGENTMETRY_MAX_COST_USD: 'maxCostUsd',
  AGENTMETRY_MAX_WALL_TIME_MS: 'maxWallTimeMs',
  AGENTMETRY_MAX_CONCURRENT: 'maxConcurrent',
  AGENTMETRY_MAX_DEPTH: 'maxDepth',
  AGENTMETRY_MAX_TURNS_PER_RUN: 'maxTurnsPerRun',
  AGENTMETRY_MAX_DURATION_MS_PER_RUN: 'maxDurationMsPerRun',
};

const LOG_LEVELS = ['none', 'error', 'warn', 'info', 'debug', 'verbose', 'all'];

/**
 * Reads the register entry's configuration. Never throws: a variable with an invalid value
 * is ignored (its default applies) and reported in `warnings`.
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
  const number = (name: string, valid: (value: number) => boolean, expected: string): number | undefined => {
    const raw = env[name]?.trim();
    if (raw === undefined || raw === '') return undefined;
    const value = Number(raw);
    if (!valid(value)) {
      warnings.push(`${name}=${raw} is not ${expected}; ignored`);
      return undefined;
    }
    return value;
  };

  const enabled = flag('AGENTMETRY_ENABLED', true) && !flag('OTEL_SDK_DISABLED', false);

  const port = number('AGENTMETRY_PROMETHEUS_PORT', (value) => Number.isInteger(value) && value >= 0 && value <= 65535, 'a port (0 to 65535)') ?? 9464;
  const host = env.AGENTMETRY_PROMETHEUS_HOST?.trim() || '127.0.0.1';
  const prometheus = flag('AGENTMETRY_PROMETHEUS', true) ? { host, port } : false;

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
    if (unknown.length > 0) warnings.push(`AGENTMETRY_ADAPTERS names unknown adapters (${unknown.join(', ')}); known: ${ADAPTER_NAMES.join(', ')}`);
    adapters = names.filter((name): name is AdapterName => (ADAPTER_NAMES as readonly string[]).includes(name));
  }

  const limits: QuotaLimits = {};
  for (const [name, limit] of Object.entries(QUOTA_LIMIT_VARIABLES)) {
    const value = number(name, (candidate) => Number.isFinite(candidate) && candidate >= 0, 'a non-negative number');
    if (value !== undefined) limits[limit] = value;
  }
  let quota: QuotaOptions | undefined;
  if (Object.keys(limits).length > 0) {
    quota = { limits };
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
      else warnings.push(`AGENTMETRY_QUOTA_WARN_AT=${warnAt} is not a comma-separated list of fractions in (0, 1]; ignored`);
    }
  }

  let logLevel = env.OTEL_LOG_LEVEL?.trim().toLowerCase() || undefined;
  if (logLevel !== undefined && !LOG_LEVELS.includes(logLevel)) {
    warnings.push(`OTEL_LOG_LEVEL=${env.OTEL_LOG_LEVEL} is not one of ${LOG_LEVELS.join(', ')}; ignored`);
    logLevel = undefined;
  }

  return { enabled, prometheus, adapters, topLevel: flag('AGENTMETRY_TOP_LEVEL', true), quota, logLevel, warnings };
}
