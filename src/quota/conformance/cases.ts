import assert from 'node:assert/strict';
import type { BudgetNode, LedgerLimits, QuotaStore, ReserveResult } from '../store.js';
import { assertMatches, leaseOf } from './check.js';
import { storeNodes } from './nodes.js';

/**
 * The store contract, case by case: each case gets a fresh store and throws on the first
 * departure from it.
 */

/** An epoch time for the cases' clock (requests carry their own `now`). */
export const T0 = 1_800_000_000_000;

export const scope = (key: string, limits: LedgerLimits): BudgetNode => ({ key, limits, ephemeral: false });
export const budget = (key: string, limits: LedgerLimits): BudgetNode => ({ key, limits, ephemeral: true });

const NOTHING_RESERVED = { executions: 0, tokens: 0, costNanos: 0, concurrent: 0 };

async function reserve<Lease>(
  store: QuotaStore<Lease>,
  nodes: BudgetNode[],
  tokens = 0,
  costNanos = 0,
  now = T0,
  enforce = true,
): Promise<ReserveResult<Lease>> {
  return store.reserve({ nodes: storeNodes(store, nodes), estimate: { tokens, costNanos }, now, enforce });
}

export interface ContractCase {
  readonly name: string;
  run<Lease>(store: QuotaStore<Lease>): Promise<void>;
}

export const CONTRACT_CASES: readonly ContractCase[] = [
  {
    name: 'admits exactly the limit of parallel reservations',
    async run(store) {
      const root = scope('global', { executions: 50 });
      const results = await Promise.all(Array.from({ length: 200 }, () => reserve(store, [root])));
      assert.equal(results.filter((result) => result.admitted).length, 50);
      const denied = results.find((result) => !result.admitted);
      assertMatches(denied, { admitted: false, violation: { resource: 'executions', key: 'global', limit: 50, used: 50, requested: 1 } });
      assert.deepEqual(store.read('global')?.reserved, { executions: 50, tokens: 0, costNanos: 0, concurrent: 50 });
      await Promise.all(results.map((result) => Promise.resolve(result.admitted ? store.settle(result.lease) : undefined)));
      assert.equal(store.read('global')?.used.executions, 50);
      assert.deepEqual(store.read('global')?.reserved, NOTHING_RESERVED);
      assert.deepEqual([...store.scopes()], ['global']);
    },
  },
  {
    name: 'checks limits in order and names the node that tripped',
    async run(store) {
      const root = scope('s', { concurrent: 1, tokens: 100 });
      const first = leaseOf(await reserve(store, [root], 10));
      assertMatches(await reserve(store, [root], 10), { admitted: false, violation: { resource: 'concurrent', key: 's', used: 1 } });
      await store.charge(first, { tokens: 10, costNanos: 0 });
      await store.settle(first);
      assertMatches(await reserve(store, [root], 91), {
        admitted: false,
        violation: { resource: 'tokens', key: 's', limit: 100, used: 10, requested: 91 },
      });
      const child = budget('s/child#1', { costNanos: 500 });
      assertMatches(await reserve(store, [root, child], 5, 600), {
        admitted: false,
        violation: { resource: 'costUsd', key: 's/child#1', limit: 500, used: 0, requested: 600 },
      });
      const observed = await reserve(store, [root, child], 5, 600, T0, false);
      assertMatches(observed, { admitted: true, violation: { resource: 'costUsd', key: 's/child#1' } });
    },
  },
  {
    name: 'denies tokens once the scope is at its limit even for a zero estimate',
    async run(store) {
      const root = scope('s', { tokens: 100 });
      const run = leaseOf(await reserve(store, [root]));
      assert.equal(await store.charge(run, { tokens: 100, costNanos: 0 }), undefined);
      await store.settle(run);
      assertMatches(await reserve(store, [root]), { admitted: false, violation: { resource: 'tokens', used: 100, requested: 0 } });
    },
  },
  {
    name: 'charges out of the reservation first and reports an overshoot only beyond it',
    async run(store) {
      const root = scope('s', { tokens: 100, costNanos: 1_000 });
      const run = leaseOf(await reserve(store, [root], 80, 900));
      assert.equal(await store.charge(run, { tokens: 60, costNanos: 900 }), undefined);
      assertMatches(store.read('s'), { used: { tokens: 60, costNanos: 900 }, reserved: { tokens: 20, costNanos: 0 } });
      assert.deepEqual(await store.charge(run, { tokens: 30, costNanos: 200 }), { resource: 'costUsd', key: 's', limit: 1_000, used: 900, requested: 200 });
      assert.deepEqual(await store.charge(run, { tokens: 15, costNanos: 0 }), { resource: 'tokens', key: 's', limit: 100, used: 90, requested: 15 });
      assertMatches(store.read('s'), { used: { tokens: 105, costNanos: 1_100 }, reserved: { tokens: 0, costNanos: 0 } });
      await store.settle(run);
      await store.settle(run);
      assertMatches(store.read('s'), { used: { executions: 1, tokens: 105, costNanos: 1_100 }, reserved: { executions: 0, concurrent: 0 } });
    },
  },
  {
    name: 'charges usage recorded after settlement straight to used',
    async run(store) {
      const root = scope('s', { tokens: 100 });
      const run = leaseOf(await reserve(store, [root], 50));
      await store.settle(run);
      assertMatches(store.read('s'), { used: { tokens: 0 }, reserved: { tokens: 0 } });
      assertMatches(await store.charge(run, { tokens: 120, costNanos: 0 }), { resource: 'tokens', used: 0, requested: 120 });
      assertMatches(store.read('s'), { used: { tokens: 120, executions: 1 } });
    },
  },
  {
    name: 'forgets a run budget once nothing is in flight under it, and keeps the scope',
    async run(store) {
      const root = scope('s', {});
      const parentBudget = budget('s/parent#1', { tokens: 1_000 });
      const childBudget = budget('s/child#2', { tokens: 100 });
      const parent = leaseOf(await reserve(store, [root, parentBudget], 10));
      const child = leaseOf(await reserve(store, [root, parentBudget, childBudget], 20));
      assertMatches(store.read('s/parent#1')?.reserved, { concurrent: 2, tokens: 30 });
      await store.settle(parent);
      assertMatches(store.read('s/parent#1')?.reserved, { concurrent: 1, tokens: 20 });
      await store.charge(child, { tokens: 25, costNanos: 0 });
      await store.settle(child);
      assert.equal(store.read('s/parent#1'), undefined);
      assert.equal(store.read('s/child#2'), undefined);
      assertMatches(store.read('s'), { used: { executions: 2, tokens: 25 }, reserved: { executions: 0, tokens: 0, concurrent: 0 } });
      assert.deepEqual([...store.scopes()], ['s']);
    },
  },
  {
    name: 'starts the wall-time clock at the first admission and returns the earliest deadline',
    async run(store) {
      const root = scope('s', { wallTimeMs: 1_000 });
      const child = budget('s/child#1', { wallTimeMs: 300 });
      assertMatches(await reserve(store, [root], 0, 0, T0), { admitted: true, deadline: T0 + 1_000 });
      assertMatches(await reserve(store, [root, child], 0, 0, T0 + 500), { admitted: true, deadline: T0 + 800 });
      assertMatches(await reserve(store, [root], 0, 0, T0 + 1_000), {
        admitted: false,
        violation: { resource: 'wallTimeMs', key: 's', limit: 1_000, used: 1_000, requested: 0 },
      });
    },
  },
  {
    name: 'cancel (where implemented) gives a lease back whole, its execution included; settle then changes nothing',
    async run(store) {
      if (store.cancel === undefined) return;
      const root = scope('c', { executions: 1, concurrent: 1, tokens: 100 });
      const child = budget('c/child#1', { tokens: 50 });
      const cancelled = leaseOf(await reserve(store, [root, child], 40, 7));
      await store.cancel(cancelled);
      assertMatches(store.read('c'), { used: { executions: 0, tokens: 0, costNanos: 0 }, reserved: NOTHING_RESERVED });
      await store.settle(cancelled);
      assert.equal(store.read('c')?.used.executions, 0);
      const next = leaseOf(await reserve(store, [root]));
      await store.settle(next);
      assertMatches(store.read('c'), { used: { executions: 1 }, reserved: NOTHING_RESERVED });
    },
  },
];
