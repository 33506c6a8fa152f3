import assert from 'node:assert/strict';
import type { LedgerState, ReserveResult } from '../store.js';

/**
 * Asserts that `actual` has every field of `expected` with an equal value, recursively through
 * plain objects; other fields of `actual` are ignored. Fails with node:assert's diff.
 */
export function assertMatches(actual: unknown, expected: unknown): void {
  assert.deepStrictEqual(project(actual, expected), expected);
}

/** `actual` reduced to the fields of `shape`, as plain objects (getters read). */
function project(actual: unknown, shape: unknown): unknown {
  if (!isPlainShape(shape) || typeof actual !== 'object' || actual === null) return actual;
  const projected: Record<string, unknown> = {};
  for (const key of Object.keys(shape)) projected[key] = project((actual as Record<string, unknown>)[key], shape[key]);
  return projected;
}

function isPlainShape(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The lease of an admitted reservation; fails on a denial. */
export function leaseOf<Lease>(result: ReserveResult<Lease>): Lease {
  if (!result.admitted) assert.fail(`expected admission, got a denial: ${JSON.stringify(result.violation)}`);
  return result.lease;
}

/** A node's state as plain data, for comparing two stores. */
export function stateOf(state: LedgerState | undefined): unknown {
  if (state === undefined) return undefined;
  const windows = state.windows?.map(({ window, used, reserved }) => ({ window: window.label, used: { ...used }, reserved: { ...reserved } }));
  return { used: { ...state.used }, reserved: { ...state.reserved }, startedAt: state.startedAt, limits: { ...state.limits }, windows };
}

/** What a reservation decided, without the lease. */
export function outcomeOf(result: ReserveResult): unknown {
  return result.admitted
    ? { admitted: true, deadline: result.deadline, violation: result.violation, unaccounted: result.unaccounted ?? false }
    : { admitted: false, violation: result.violation };
}
