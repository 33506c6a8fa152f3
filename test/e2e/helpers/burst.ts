import type { ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { expect } from 'vitest';
import { ROOT } from './redis-server.js';
import { startReplica, stopReplicas } from './replicas.js';

/**
 * The busy-client trial of issue 15, shared by the single-node and the Redis Cluster suites:
 * each of PROCESSES processes launches SCOPES scopes × RUNS_PER_SCOPE runs in one synchronous
 * burst (test/e2e/fixtures/redis-burst.mjs), then blocks its own event loop for BUSY_MS, longer
 * than TIMEOUT_MS (a CPU spike).
 */
export const PROCESSES = 4;
export const SCOPES = 8;
export const RUNS_PER_SCOPE = 250;
export const LIMIT = 100;
export const TIMEOUT_MS = 500;
export const BUSY_MS = 1_500;
/** The fixture's scopes: conversation ids `c0` … `c7`. */
export const BURST_SCOPES = Array.from({ length: SCOPES }, (_, i) => `c${i}`);

const FIXTURE = resolve(ROOT, 'test/e2e/fixtures/redis-burst.mjs');

export type Counts = Partial<Record<'admitted' | 'quota' | 'unavailable' | 'overloaded', number>> & Record<string, number>;
export interface BurstResult {
  byScope: Record<string, Counts>;
  landed: { charges: number; settlements: number };
  messages: string[];
}

/** Where the fixture finds the package and Redis: `port` (one server) or `startupNodes` (a cluster). */
export interface BurstTarget {
  dist: string;
  port?: number;
  startupNodes?: ReadonlyArray<{ host: string; port: number }>;
}

/**
 * Runs the burst in PROCESSES processes and checks what the processes saw: every scope admitted
 * exactly min(demand, limit) (demand less what the admission queue's bound refused, printed), no
 * other outcome (no "store unavailable"), and every admitted run charged and settled once.
 * Resolves the admitted runs per scope, for the caller to check against Redis.
 */
export async function runBurst(target: BurstTarget, keyPrefix: string, children: Set<ChildProcess>, label: string): Promise<Record<string, number>> {
  const options = { ...target, keyPrefix, limits: { maxExecutions: LIMIT }, timeoutMs: TIMEOUT_MS };
  const replicas = await Promise.all(Array.from({ length: PROCESSES }, () => startReplica(FIXTURE, options, children)));
  const startAt = Date.now() + 300;
  const results = (await Promise.all(
    replicas.map((replica) => replica.request({ type: 'burst', scopes: SCOPES, runsPerScope: RUNS_PER_SCOPE, busyMs: BUSY_MS, startAt })),
  )) as unknown as BurstResult[];
  await stopReplicas(replicas);

  const totals: Record<string, Counts> = {};
  for (const result of results) {
    for (const [scope, counts] of Object.entries(result.byScope)) {
      const total = (totals[scope] ??= {});
      for (const [key, value] of Object.entries(counts)) total[key] = (total[key] ?? 0) + value;
    }
  }
  // Printed so that a refusal explained by the admission queue's bound is visible, counted.
  console.log(`${label}: outcomes per scope ${JSON.stringify(totals)}; messages ${JSON.stringify([...new Set(results.flatMap((r) => r.messages))])}`);

  expect(Object.keys(totals).sort()).toEqual(BURST_SCOPES);
  const admittedByScope: Record<string, number> = {};
  for (const [scope, counts] of Object.entries(totals)) {
    const demand = PROCESSES * RUNS_PER_SCOPE - (counts.overloaded ?? 0);
    const { admitted = 0, quota = 0, overloaded = 0, ...others } = counts;
    expect({ scope, admitted, others }).toEqual({ scope, admitted: Math.min(demand, LIMIT), others: {} });
    expect(admitted + quota + overloaded).toBe(PROCESSES * RUNS_PER_SCOPE);
    admittedByScope[scope] = admitted;
  }
  for (const result of results) {
    const admitted = Object.values(result.byScope).reduce((sum, counts) => sum + (counts.admitted ?? 0), 0);
    expect(result.landed).toEqual({ charges: admitted, settlements: admitted });
  }
  return admittedByScope;
}

/** What a scope's node hash must hold once the burst drained: its admitted runs' usage, counted once, nothing reserved. */
export function drainedNode(admitted: number): Record<string, string> {
  return { ue: String(admitted), ut: String(admitted * 10), re: '0', rk: '0', rt: '0' };
}
