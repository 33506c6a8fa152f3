import type { DiagLogger } from '@opentelemetry/api';
import { safeCall } from '../../log.js';

/**
 * Calls an adapter's pricing hook (`options.costUsd`) for one step's usage. Returns the cost when
 * the hook gave a non-negative finite number; when it threw or gave anything else (NaN for a
 * model missing from a price table, a negative number), logs a warning and returns `undefined`:
 * the step's cost is then unknown, and its tokens are recorded and charged all the same.
 */
export function priceUsage<U>(logger: DiagLogger, hook: ((usage: U) => number | undefined) | undefined, usage: U): number | undefined {
  if (hook === undefined) return undefined;
  const cost: unknown = safeCall(logger, 'options.costUsd', () => hook(usage), 'warn');
  if (cost === undefined || (typeof cost === 'number' && Number.isFinite(cost) && cost >= 0)) return cost;
  logger.warn(`options.costUsd returned ${describe(cost)}, not a non-negative finite number of USD; the step's cost is unknown, its tokens are recorded`);
  return undefined;
}

function describe(value: unknown): string {
  return typeof value === 'number' || typeof value === 'boolean' || value === null ? String(value) : `a ${typeof value}`;
}
