import assert from 'node:assert/strict';
import { MemoryQuotaStore, type MemoryLease } from '../memory-store.js';
import { storeNodes } from './nodes.js';
import type { BudgetNode, ChargeResult, LedgerLimits, QuotaStore } from '../store.js';
import { outcomeOf, stateOf } from './check.js';
import { budget, scope, T0 } from './cases.js';
import type { Random } from './random.js';
import { RollingWindow } from '../windows.js';

/**
 * Random workloads (nested budgets, observe mode, estimates, overshoots, double and late
 * settlements, wall time, a rolling window that moves on under runs in flight) replayed on the candidate store and on the in-memory reference store,
 * comparing every result and every node's state after every step.
 */

/** One step of a workload. Leases and parents are picked by index among those admitted so far. */
export type Step =
  | {
      kind: 'reserve';
      scope: number;
      /** Nest under a live run (index among live runs, modulo their count), or start at the scope. */
      parent: number | undefined;
      /** Give the run a budget of its own (index into BUDGETS). */
      budget: number | undefined;
      tokens: number;
      costNanos: number;
      enforce: boolean;
      /** Milliseconds the clock moves before this step. */
      elapse: number;
    }
  | { kind: 'charge'; lease: number; tokens: number; costNanos: number }
  | { kind: 'settle'; lease: number };

const SCOPES = [
  scope('a', { executions: 12, concurrent: 4, tokens: 600, costNanos: 3_000, wallTimeMs: 250 }),
  scope('b', { tokens: 300 }),
  // The last 200 ms in 4 buckets: a few reservations apart, runs in flight outlive their bucket.
  scope('c', { executions: 30, windows: [new RollingWindow(200, 4, { executions: 4, tokens: 400, costNanos: 2_000 })] }),
];
const BUDGETS: LedgerLimits[] = [{ tokens: 150, concurrent: 2 }, { executions: 2, costNanos: 700 }, {}];

/** What the workloads should reach; checked over a full run so that a weakened generator is caught too. */
export const PATHS = [
  'denied executions',
  'denied concurrent',
  'denied tokens',
  'denied costUsd',
  'denied wallTimeMs',
  'denied window',
  'observed',
  'nested',
  'overshoot',
  'late charge',
  'settled twice',
] as const;

export function generateWorkload(random: Random, maxSteps: number): Step[] {
  const steps: Step[] = [];
  const length = random.int(1, maxSteps);
  for (let i = 0; i < length; i++) {
    const pick = random.int(0, 9);
    if (pick < 4) {
      steps.push({
        kind: 'reserve',
        scope: random.int(0, SCOPES.length - 1),
        parent: random.chance(1 / 6) ? undefined : random.int(0, 1_000),
        budget: random.chance(1 / 6) ? undefined : random.int(0, BUDGETS.length - 1),
        tokens: random.amount(160),
        costNanos: random.amount(900),
        enforce: random.int(0, 3) > 0,
        elapse: random.amount(40),
      });
    } else if (pick < 7) {
      steps.push({ kind: 'charge', lease: random.int(0, 1_000), tokens: random.amount(200), costNanos: random.amount(1_000) });
    } else {
      steps.push({ kind: 'settle', lease: random.int(0, 1_000) });
    }
  }
  return steps;
}

interface Replica<Lease> {
  readonly store: QuotaStore<Lease>;
  readonly leases: Lease[];
}

/**
 * Replays `steps` on `candidate` and on a fresh reference store. Throws on the first difference,
 * with the step's index in `error.step`. Counts the paths it reached into `reached`.
 */
export async function replayWorkload<Lease>(candidate: QuotaStore<Lease>, steps: readonly Step[], reached: Map<string, number>): Promise<void> {
  const tally = (path: string): void => void reached.set(path, (reached.get(path) ?? 0) + 1);
  const expected: Replica<MemoryLease> = { store: new MemoryQuotaStore(), leases: [] };
  const actual: Replica<Lease> = { store: candidate, leases: [] };
  /** Per admitted run: its nodes (for nesting) and whether it was settled. */
  const runs: Array<{ nodes: readonly BudgetNode[]; settled: boolean }> = [];
  const keys = new Set<string>();
  let now = T0;
  let serial = 0;

  const compareStates = (): void => {
    for (const key of keys) assert.deepStrictEqual(stateOf(actual.store.read(key, now)), stateOf(expected.store.read(key, now)), `state of node ${key}`);
    assert.deepStrictEqual([...actual.store.scopes()].sort(), [...expected.store.scopes()].sort(), 'scopes()');
  };

  for (let index = 0; index < steps.length; index++) {
    const step = steps[index]!;
    try {
      if (step.kind === 'reserve') {
        now += step.elapse;
        const live = runs.flatMap((run, at) => (run.settled ? [] : [at]));
        const parent = step.parent === undefined || live.length === 0 ? undefined : runs[live[step.parent % live.length]!]!;
        let nodes: readonly BudgetNode[] = parent === undefined ? [SCOPES[step.scope]!] : parent.nodes;
        if (step.budget !== undefined) nodes = [...nodes, budget(`${nodes[0]!.key}/run#${++serial}`, BUDGETS[step.budget]!)];
        for (const node of nodes) keys.add(node.key);
        const request = { estimate: { tokens: step.tokens, costNanos: step.costNanos }, now, enforce: step.enforce };
        const wanted = await expected.store.reserve({ ...request, nodes: storeNodes(expected.store, nodes) });
        const got = await actual.store.reserve({ ...request, nodes: storeNodes(actual.store, nodes) });
        assert.deepStrictEqual(outcomeOf(got), outcomeOf(wanted), 'reserve result');
        if (!wanted.admitted) tally(wanted.violation.window === undefined ? `denied ${wanted.violation.resource}` : 'denied window');
        else if (wanted.violation !== undefined) tally('observed');
        if (nodes.length > 2) tally('nested');
        if (wanted.admitted && got.admitted) {
          expected.leases.push(wanted.lease);
          actual.leases.push(got.lease);
          runs.push({ nodes, settled: false });
        }
      } else if (runs.length > 0) {
        const at = step.lease % runs.length;
        const run = runs[at]!;
        if (step.kind === 'charge') {
          const usage = { tokens: step.tokens, costNanos: step.costNanos };
          const wanted = await expected.store.charge(expected.leases[at]!, usage, now);
          const got = await actual.store.charge(actual.leases[at]!, usage, now);
          // Usage charged after settlement to a run budget with nothing in flight under it: the
          // store may have forgotten that budget, so an overshoot of it may or may not be reported.
          if (!(run.settled && onForgettable(run.nodes, got) && onForgettable(run.nodes, wanted))) assert.deepStrictEqual(got, wanted, 'charge result');
          if (wanted !== undefined) tally('overshoot');
          if (run.settled) tally('late charge');
        } else {
          if (run.settled) tally('settled twice');
          await expected.store.settle(expected.leases[at]!, now);
          await actual.store.settle(actual.leases[at]!, now);
          run.settled = true;
        }
      }
      compareStates();
    } catch (error) {
      throw Object.assign(error instanceof Error ? error : new Error(String(error)), { step: index });
    }
  }

  try {
    for (let at = 0; at < runs.length; at++) {
      await expected.store.settle(expected.leases[at]!, now);
      await actual.store.settle(actual.leases[at]!, now);
    }
    compareStates();
    for (const root of SCOPES) {
      const final = actual.store.read(root.key, now);
      if (final !== undefined)
        assert.deepStrictEqual(
          { ...final.reserved },
          { executions: 0, tokens: 0, costNanos: 0, concurrent: 0 },
          `${root.key} reserved after every run settled`,
        );
    }
  } catch (error) {
    throw Object.assign(error instanceof Error ? error : new Error(String(error)), { step: steps.length });
  }
}

/** No violation, or one on a run budget (which a store may forget once nothing is in flight under it). */
function onForgettable(nodes: readonly BudgetNode[], violation: ChargeResult): boolean {
  return violation === undefined || nodes.some((node) => node.ephemeral && node.key === violation.key);
}
