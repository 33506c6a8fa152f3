import assert from 'node:assert/strict';
import type { BudgetNode, LedgerState, QuotaStore, ReserveResult } from '../store.js';
import { CalendarWindow, RollingWindow } from '../windows.js';
import { assertMatches, leaseOf } from './check.js';
import type { ContractCase } from './cases.js';
import { storeNodes } from './nodes.js';

/**
 * The store contract for windows, levels and forgetting, driven by the `now` each call carries:
 * no case waits for a clock.
 */

const scope = (key: string, limits: BudgetNode['limits']): BudgetNode => ({ key, limits, ephemeral: false });

async function reserveAt<Lease>(store: QuotaStore<Lease>, nodes: BudgetNode[], now: number, tokens = 0): Promise<ReserveResult<Lease>> {
  return store.reserve({ nodes: storeNodes(store, nodes), estimate: { tokens, costNanos: 0 }, now, enforce: true });
}

/** Each window's label, used and reserved, as plain data. */
function windowsOf(state: LedgerState | undefined): unknown {
  return state?.windows?.map(({ window, used, reserved }) => ({
    window: window.label,
    used: { executions: used.executions, tokens: used.tokens },
    reserved: { executions: reserved.executions, tokens: reserved.tokens },
  }));
}

const counts = (executions: number, tokens: number) => ({ executions, tokens });
const MINUTE = 60_000;
/** Midnight UTC, 2027-01-16: the cases' day boundary. */
const MIDNIGHT = Date.UTC(2027, 0, 16);

export const WINDOW_CASES: readonly ContractCase[] = [
  {
    name: 'counts a run in the calendar day it was admitted in: the day rolls over mid-run and frees its budget at once',
    async run(store) {
      const day = new CalendarWindow('day', 'UTC', { executions: 2, tokens: 100 });
      const root = scope('d', { windows: [day] });
      const before = MIDNIGHT - MINUTE;
      const first = leaseOf(await reserveAt(store, [root], before, 10));
      const second = leaseOf(await reserveAt(store, [root], before, 10));
      assertMatches(await reserveAt(store, [root], before), {
        admitted: false,
        violation: { resource: 'executions', key: 'd', window: 'day', limit: 2, used: 2, requested: 1 },
      });
      await store.charge(first, { tokens: 30, costNanos: 0 }, before);
      assert.deepEqual(windowsOf(store.read('d', before)), [{ window: 'day', used: counts(0, 30), reserved: counts(2, 10) }]);

      // Midnight: yesterday's bucket counts for nothing, while both runs are still in flight.
      const after = MIDNIGHT + MINUTE;
      assert.deepEqual(windowsOf(store.read('d', after)), [{ window: 'day', used: counts(0, 0), reserved: counts(0, 0) }]);
      const third = leaseOf(await reserveAt(store, [root], after, 5));
      // Usage of a run admitted yesterday is not counted today (it still counts for good).
      assert.equal(await store.charge(second, { tokens: 200, costNanos: 0 }, after), undefined);
      await store.settle(first, after);
      await store.settle(second, after);
      assert.deepEqual(windowsOf(store.read('d', after)), [{ window: 'day', used: counts(0, 0), reserved: counts(1, 5) }]);
      assertMatches(store.read('d', after), { used: { executions: 2, tokens: 230 }, reserved: { executions: 1, tokens: 5, concurrent: 1 } });
      await store.charge(third, { tokens: 95, costNanos: 0 }, after);
      await store.settle(third, after);
      assert.deepEqual(windowsOf(store.read('d', after)), [{ window: 'day', used: counts(1, 95), reserved: counts(0, 0) }]);
      assertMatches(await reserveAt(store, [root], after, 6), {
        admitted: false,
        violation: { resource: 'tokens', key: 'd', window: 'day', limit: 100, used: 95, requested: 6 },
      });
    },
  },
  {
    name: 'frees a rolling window one bucket at a time, as each leaves the window',
    async run(store) {
      // The last 4 s in 4 buckets of 1 s, at most 3 runs.
      const rolling = new RollingWindow(4_000, 4, { executions: 3 });
      const root = scope('r', { windows: [rolling] });
      const t = MIDNIGHT;
      for (const at of [t, t + 1_000, t + 2_500]) await store.settle(leaseOf(await reserveAt(store, [root], at)), at);
      assertMatches(await reserveAt(store, [root], t + 3_999), { admitted: false, violation: { resource: 'executions', window: 'rolling:4s', used: 3 } });
      assert.deepEqual(windowsOf(store.read('r', t + 3_999)), [{ window: 'rolling:4s', used: counts(3, 0), reserved: counts(0, 0) }]);
      // At t + 4 s the bucket of t leaves the window: one run fits again, and only one.
      const fourth = leaseOf(await reserveAt(store, [root], t + 4_000));
      assertMatches(await reserveAt(store, [root], t + 4_000), { admitted: false, violation: { resource: 'executions', used: 3 } });
      assert.deepEqual(windowsOf(store.read('r', t + 4_000)), [{ window: 'rolling:4s', used: counts(2, 0), reserved: counts(1, 0) }]);
      await store.settle(fourth, t + 4_000);
      // A bucket later only the runs of t + 2.5 s and t + 4 s count; one later still, only the last.
      assert.deepEqual(windowsOf(store.read('r', t + 5_000)), [{ window: 'rolling:4s', used: counts(2, 0), reserved: counts(0, 0) }]);
      assert.deepEqual(windowsOf(store.read('r', t + 6_000)), [{ window: 'rolling:4s', used: counts(1, 0), reserved: counts(0, 0) }]);
      assertMatches(await reserveAt(store, [root], t + 5_000), { admitted: true });
      assertMatches(store.read('r', t + 5_000), { used: { executions: 4 } });
    },
  },
  {
    name: 'aligns a calendar month on its time zone, not on UTC',
    async run(store) {
      const month = new CalendarWindow('month', 'America/New_York', { executions: 1 });
      const root = scope('m', { windows: [month] });
      // 2027-02-01 03:00 and 04:30 UTC are still January in New York (UTC-5); 05:30 UTC is February there.
      const january = Date.UTC(2027, 1, 1, 3);
      await store.settle(leaseOf(await reserveAt(store, [root], january)), january);
      assertMatches(await reserveAt(store, [root], Date.UTC(2027, 1, 1, 4, 30)), {
        admitted: false,
        violation: { resource: 'executions', key: 'm', window: 'month@America/New_York', used: 1 },
      });
      assertMatches(await reserveAt(store, [root], Date.UTC(2027, 1, 1, 5, 30)), { admitted: true });
    },
  },
  {
    name: 'checks every level of a layered reservation at once and names the level that refused',
    async run(store) {
      // Outermost first: the whole app, then a tenant, then a conversation, each its own scope.
      const app = scope('global:global', { executions: 3, windows: [new CalendarWindow('minute', 'UTC', { tokens: 1_000 })] });
      const tenant = (name: string) => scope(`tenant:${name}`, { executions: 2 });
      const conversation = (name: string) => scope(`conversation:${name}`, { concurrent: 1 });
      const [a, b] = [tenant('a'), tenant('b')];
      const [c1, c2, c3] = [conversation('c1'), conversation('c2'), conversation('c3')];
      const t = MIDNIGHT;
      const first = leaseOf(await reserveAt(store, [app, a, c1], t, 10));
      assertMatches(await reserveAt(store, [app, a, c1], t), { admitted: false, violation: { resource: 'concurrent', key: 'conversation:c1' } });
      await store.settle(leaseOf(await reserveAt(store, [app, a, c2], t)), t);
      assertMatches(await reserveAt(store, [app, a, c3], t), { admitted: false, violation: { resource: 'executions', key: 'tenant:a', used: 2 } });
      leaseOf(await reserveAt(store, [app, b, c3], t));
      assertMatches(await reserveAt(store, [app, b, c2], t), { admitted: false, violation: { resource: 'executions', key: 'global:global', used: 3 } });
      // A refused run holds nothing on any level.
      assertMatches(store.read('tenant:b', t), { reserved: { executions: 1, concurrent: 1 } });
      assertMatches(store.read('conversation:c2', t), { used: { executions: 1 }, reserved: { executions: 0, concurrent: 0 } });
      await store.charge(first, { tokens: 995, costNanos: 0 }, t);
      assert.deepEqual(windowsOf(store.read('global:global', t)), [{ window: 'minute', used: counts(1, 995), reserved: counts(2, 0) }]);
      assertMatches(store.read('tenant:a', t), { used: { tokens: 995 } });
    },
  },
  {
    name: 'forget (where implemented) drops an idle scope from read() and scopes(); a later run lists it again',
    async run(store) {
      if (store.forget === undefined) return;
      const plain = scope('f', { windows: [new CalendarWindow('hour', 'UTC', { executions: 10 })] });
      const t = MIDNIGHT;
      const [node] = storeNodes(store, [plain]);
      await store.settle(leaseOf(await reserveAt(store, [plain], t)), t);
      assert.deepEqual([...store.scopes()], ['f']);
      store.forget(node!);
      assert.equal(store.read('f', t), undefined);
      assert.deepEqual([...store.scopes()], []);
      // As the quota does: a new node for the scope when it comes back.
      const again = scope('f', plain.limits);
      assertMatches(await reserveAt(store, [again], t + 1), { admitted: true });
      assert.deepEqual([...store.scopes()], ['f']);
      assertMatches(store.read('f', t + 1), { reserved: { executions: 1, concurrent: 1 } });
    },
  },
];
