import { isObject } from '../is-object.js';
import { MAX_LEDGER_USD } from '../money.js';
import { parseLimits } from '../quota/config.js';
import { ENV_SEMCONV_STABILITY_OPT_IN, METRICS_FAMILIES, SEMCONV_OPT_IN_GEN_AI_LATEST, type MetricsFamily } from '../semconv.js';
import type { MetricFamilies } from '../telemetry/instruments.js';
import type { AgentMeterOptions, RunSpec, UsageEstimate } from '../types.js';

const OPTION_KEYS = ['meterProvider', 'tracerProvider', 'strict', 'maxAgentNames', 'metrics', 'quota'];
const SPEC_KEYS = new Set(['name', 'conversationId', 'model', 'signal', 'timeoutMs', 'estimate', 'budget', 'attributes']);

/** Validates `new AgentMeter(options)`; every error names the field and what it expected. */
export function parseAgentMeterOptions(options: AgentMeterOptions): {
  strict: boolean;
  maxAgentNames: number;
  metrics: MetricsFamily;
  families: MetricFamilies;
} {
  if (!isObject(options)) throw new TypeError('agentmetry: options must be an object');
  for (const key of Object.keys(options)) {
    if (!OPTION_KEYS.includes(key)) throw new TypeError(`agentmetry: ${key} is not a known option (expected one of ${OPTION_KEYS.join(', ')})`);
  }
  const maxAgentNames = options.maxAgentNames ?? 200;
  if (!Number.isInteger(maxAgentNames) || maxAgentNames < 1) {
    throw new RangeError(`agentmetry: maxAgentNames must be a positive integer, got ${String(maxAgentNames)}`);
  }
  const metrics = options.metrics ?? metricsFromEnv(typeof process === 'undefined' ? undefined : process.env[ENV_SEMCONV_STABILITY_OPT_IN]);
  if (!METRICS_FAMILIES.includes(metrics)) {
    const given = typeof metrics === 'string' ? JSON.stringify(metrics) : String(metrics);
    throw new TypeError(`agentmetry: metrics must be one of ${METRICS_FAMILIES.map((family) => `'${family}'`).join(', ')}, got ${given}`);
  }
  const families = { subagent: metrics !== 'gen_ai', genAi: metrics !== 'subagent' };
  return { strict: options.strict ?? false, maxAgentNames, metrics, families };
}

/**
 * The metric families `OTEL_SEMCONV_STABILITY_OPT_IN` (a comma-separated list) asks for:
 * `gen_ai_latest_experimental` adds the GenAI conventions' agent metrics to the `subagent.*`
 * family, which is this package's own (not an older version of those conventions), and which
 * the bundled dashboards read. Anything else: `subagent`.
 */
export function metricsFromEnv(optIn: string | undefined): MetricsFamily {
  if (optIn === undefined) return 'subagent';
  return optIn.split(',').some((value) => value.trim() === SEMCONV_OPT_IN_GEN_AI_LATEST) ? 'both' : 'subagent';
}

/**
 * Validates a run's spec (a name or `{ name, ... }`) and function; `field` prefixes names in
 * errors. Returns a copy holding each field read once, so that a getter cannot hand the run a
 * value other than the one validated. A `budget` and an `estimate` are checked whether or not a
 * quota is configured.
 */
export function parseRunSpec(spec: string | RunSpec, fn: unknown, field = ''): RunSpec {
  if (typeof fn !== 'function') throw new TypeError(`agentmetry: ${field}fn must be a function, got ${typeof fn}`);
  const given = typeof spec === 'string' ? { name: spec } : spec;
  if (!isObject(given)) {
    throw new TypeError(`agentmetry: ${field}spec must be a name or { name, ... }, got ${typeof given}`);
  }
  const { name, conversationId, model, signal, timeoutMs, estimate, budget, attributes } = given;
  if (typeof name !== 'string' || name.length === 0) {
    throw new TypeError(`agentmetry: ${field}name must be a non-empty string, got ${JSON.stringify(name)}`);
  }
  for (const key in given) {
    if (!SPEC_KEYS.has(key)) throw new TypeError(`agentmetry: ${field}${key} is not a known run option (expected one of ${[...SPEC_KEYS].join(', ')})`);
  }
  if (timeoutMs !== undefined && !(typeof timeoutMs === 'number' && timeoutMs >= 0 && timeoutMs <= 2_147_483_647)) {
    throw new RangeError(`agentmetry: ${field}timeoutMs must be a number of milliseconds from 0 to 2147483647, got ${String(timeoutMs)}`);
  }
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw new TypeError(`agentmetry: ${field}signal must be an AbortSignal`);
  const runSpec: RunSpec = { name };
  if (conversationId !== undefined) runSpec.conversationId = conversationId;
  if (model !== undefined) runSpec.model = model;
  if (signal !== undefined) runSpec.signal = signal;
  if (timeoutMs !== undefined) runSpec.timeoutMs = timeoutMs;
  if (estimate !== undefined) runSpec.estimate = parseEstimate(estimate, field);
  if (budget !== undefined) runSpec.budget = parseLimits(budget, `${field}budget`);
  if (attributes !== undefined) runSpec.attributes = attributes;
  return runSpec;
}

function parseEstimate(estimate: UsageEstimate, field: string): UsageEstimate {
  if (!isObject(estimate)) throw new TypeError(`agentmetry: ${field}estimate must be { tokens?, costUsd? }`);
  const { tokens, costUsd } = estimate;
  if (tokens !== undefined && !(Number.isSafeInteger(tokens) && tokens >= 0)) {
    throw new RangeError(`agentmetry: ${field}estimate.tokens must be a non-negative integer, got ${String(tokens)}`);
  }
  if (costUsd !== undefined && !(Number.isFinite(costUsd) && costUsd >= 0 && costUsd <= MAX_LEDGER_USD)) {
    throw new RangeError(`agentmetry: ${field}estimate.costUsd must be a number from 0 to ${MAX_LEDGER_USD}, got ${String(costUsd)}`);
  }
  const parsed: UsageEstimate = {};
  if (tokens !== undefined) parsed.tokens = tokens;
  if (costUsd !== undefined) parsed.costUsd = costUsd;
  return parsed;
}
