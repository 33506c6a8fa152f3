import assert from 'node:assert/strict';
import type { BudgetNode, QuotaStore, ReserveResult } from '../store.js';
import { CalendarWindow } from '../windows.js';
import { assertMatches, leaseOf } from './check.js';
import type { ContractCase } from './cases.js';
import { storeNodes } from './nodes.js';

/**
 * The store contract for holding a model call's worst case on a live lease (`hold`, `release`),
 * for stores that implement them; a store without them skips these cases' checks (its calls are
 * charged afterwards, which the quota documents).
 */

const scope = (key: string, limits: BudgetNode['limits']): BudgetNode => ({ key, limits, ephemeral: false });
const budget = (key: string, limits: BudgetNode['limits']): BudgetNode => ({ key, limits, ephemeral: true });
const T0 = Date.UTC(2027, 0, 16, 12);

async function reserveAt<Lease>(store: QuotaStore<Lease>, nodes: BudgetNode[], now = T0): Promise<ReserveResult<Lease>> {
  return store.reserve({ nodes: storeNodes(store, nodes), estimate: { tokens: 0, costNanos: 0 }, now, enforce: true });
}

const reservedTokens = (store: QuotaStore, key: string) => store.read(key, T0)?.reserved.tokens;
const usedTokens = (store: QuotaStore, key: string) => store.read(key, T0)?.used.tokens;

export const HOLD_CASES: readonly ContractCase[] = [
  {
    name: 'holds a call on every node at once, or on none when one limit does not fit',
    async run(store) {
      if (store.hold === undefined || store.release === undefined) return;
      const root = scope('h', { tokens: 1_000, costNanos: 5_000 });
      const own = budget('h/run#1', { tokens: 300 });
      const lease = leaseOf(await reserveAt(store, [root, own]));
      assertMatches(await store.hold(lease, { tokens: 250, costNanos: 100 }, true, T0), { held: true, violation: undefined });
      assert.equal(reservedTokens(store, 'h'), 250);
      // 250 + 100 > 300 on the run's budget: nothing is held anywhere.
      assertMatches(await store.hold(lease, { tokens: 100, costNanos: 0 }, true, T0), {
        held: false,
        violation: { resource: 'tokens', key: 'h/run#1', limit: 300, used: 250, requested: 100 },
      });
      assert.equal(reservedTokens(store, 'h'), 250);
      // Not enforcing, it is held anyway and the limit it passes is reported.
      assertMatches(await store.hold(lease, { tokens: 100, costNanos: 0 }, false, T0), { held: true, violation: { resource: 'tokens', key: 'h/run#1' } });
      assert.equal(reservedTokens(store, 'h'), 350);
      await store.settle(lease, T0);
      assert.equal(reservedTokens(store, 'h'), 0);
    },
  },
  {
    name: 'a charge draws on what a call holds, and release gives back the rest (never more than the lease holds)',
    async run(store) {
      if (store.hold === undefined || store.release === undefined) return;
      const root = scope('c', { tokens: 1_000 });
      const lease = leaseOf(await reserveAt(store, [root]));
      await store.hold(lease, { tokens: 800, costNanos: 0 }, true, T0);
      await store.charge(lease, { tokens: 300, costNanos: 0 }, T0);
      assert.equal(usedTokens(store, 'c'), 300);
      assert.equal(reservedTokens(store, 'c'), 500);
      // Another run cannot take what the call still holds.
      const other = leaseOf(await reserveAt(store, [root]));
      assertMatches(await store.hold(other, { tokens: 201, costNanos: 0 }, true, T0), { held: false, violation: { resource: 'tokens', used: 800 } });
      await store.release(lease, { tokens: 10_000, costNanos: 0 }, T0);
      assert.equal(reservedTokens(store, 'c'), 0);
      assertMatches(await store.hold(other, { tokens: 700, costNanos: 0 }, true, T0), { held: true });
      await store.settle(other, T0);
      await store.settle(lease, T0);
      assert.equal(usedTokens(store, 'c'), 300);
      assert.equal(reservedTokens(store, 'c'), 0);
    },
  },
  {
    name: "holds in the window bucket of the lease's admission, and a settled lease holds nothing",
    async run(store) {
      if (store.hold === undefined || store.release === undefined) return;
      const day = new CalendarWindow('day', 'UTC', { tokens: 500 });
      const root = scope('w', { windows: [day] });
      const lease = leaseOf(await reserveAt(store, [root]));
      assertMatches(await store.hold(lease, { tokens: 501, costNanos: 0 }, true, T0), {
        held: false,
        violation: { resource: 'tokens', window: 'day', limit: 500 },
      });
      assertMatches(await store.hold(lease, { tokens: 500, costNanos: 0 }, true, T0), { held: true });
      assert.equal(store.read('w', T0)?.windows?.[0]?.reserved.tokens, 500);
      await store.settle(lease, T0);
      assert.equal(store.read('w', T0)?.windows?.[0]?.reserved.tokens, 0);
      assertMatches(await store.hold(lease, { tokens: 1, costNanos: 0 }, true, T0), { held: false, violation: undefined });
    },
  },
];
