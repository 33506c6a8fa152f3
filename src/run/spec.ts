import { isObject } from '../is-object.js';
import type { AgentMeterOptions, RunSpec } from '../types.js';

const OPTION_KEYS = ['meterProvider', 'tracerProvider', 'strict', 'maxAgentNames', 'quota'];
const SPEC_KEYS = new Set(['name', 'conversationId', 'model', 'signal', 'timeoutMs', 'estimate', 'budget', 'attributes']);

/** Validates `new AgentMeter(options)`; every error names the field and what it expected. */
export function parseAgentMeterOptions(options: AgentMeterOptions): { strict: boolean; maxAgentNames: number } {
  if (!isObject(options)) throw new TypeError('agentmetry: options must be an object');
  for (const key of Object.keys(options)) {
    if (!OPTION_KEYS.includes(key)) throw new TypeError(`agentmetry: ${key} is not a known option (expected one of ${OPTION_KEYS.join(', ')})`);
  }
  const maxAgentNames = options.maxAgentNames ?? 200;
  if (!Number.isInteger(maxAgentNames) || maxAgentNames < 1) {
    throw new RangeError(`agentmetry: maxAgentNames must be a positive integer, got ${String(maxAgentNames)}`);
  }
  return { strict: options.strict ?? false, maxAgentNames };
}

/** Validates a run's spec (a name or `{ name, ... }`) and function; `field` prefixes names in errors. */
export function parseRunSpec(spec: string | RunSpec, fn: unknown, field = ''): RunSpec {
  if (typeof fn !== 'function') throw new TypeError(`agentmetry: ${field}fn must be a function, got ${typeof fn}`);
  const runSpec = typeof spec === 'string' ? { name: spec } : spec;
  if (!isObject(runSpec)) {
    throw new TypeError(`agentmetry: ${field}spec must be a name or { name, ... }, got ${typeof runSpec}`);
  }
  if (typeof runSpec.name !== 'string' || runSpec.name.length === 0) {
    throw new TypeError(`agentmetry: ${field}name must be a non-empty string, got ${JSON.stringify(runSpec.name)}`);
  }
  for (const key in runSpec) {
    if (!SPEC_KEYS.has(key)) throw new TypeError(`agentmetry: ${field}${key} is not a known run option (expected one of ${[...SPEC_KEYS].join(', ')})`);
  }
  const { timeoutMs, signal, estimate } = runSpec;
  if (timeoutMs !== undefined && !(typeof timeoutMs === 'number' && timeoutMs >= 0 && timeoutMs <= 2_147_483_647)) {
    throw new RangeError(`agentmetry: ${field}timeoutMs must be a number of milliseconds from 0 to 2147483647, got ${String(timeoutMs)}`);
  }
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw new TypeError(`agentmetry: ${field}signal must be an AbortSignal`);
  if (estimate !== undefined) {
    if (!isObject(estimate)) throw new TypeError(`agentmetry: ${field}estimate must be { tokens?, costUsd? }`);
    if (estimate.tokens !== undefined && !(Number.isInteger(estimate.tokens) && estimate.tokens >= 0)) {
      throw new RangeError(`agentmetry: ${field}estimate.tokens must be a non-negative integer, got ${String(estimate.tokens)}`);
    }
    if (estimate.costUsd !== undefined && !(Number.isFinite(estimate.costUsd) && estimate.costUsd >= 0)) {
      throw new RangeError(`agentmetry: ${field}estimate.costUsd must be a non-negative finite number, got ${String(estimate.costUsd)}`);
    }
  }
  return runSpec;
}
