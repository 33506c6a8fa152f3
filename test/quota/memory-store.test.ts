import { describe, expect, it } from 'vitest';
import {
  MemoryQuotaStore,
  quotaStoreConformance,
  type MemoryLease,
  type MemoryNode,
  type QuotaStoreConformanceCase,
  type ReserveRequest,
  type ReserveResult,
} from '../../src/quota-store/index.js';
import { CalendarWindow, RollingWindow } from '../../src/quota/windows.js';

describe('MemoryQuotaStore conformance', () => {
  for (const check of quotaStoreConformance({ createStore: () => new MemoryQuotaStore() })) it(check.name, check.run);
});

describe('MemoryQuotaStore run budgets', () => {
  const T0 = 1_800_000_000_000;
  const request = (nodes: MemoryNode[], tokens = 0): ReserveRequest<MemoryNode> => ({ nodes, estimate: { tokens, costNanos: 0 }, now: T0, enforce: true });
  const leaseOf = (result: ReserveResult<MemoryLease>): MemoryLease => {
    if (!result.admitted) throw new Error(`denied: ${JSON.stringify(result.violation)}`);
    return result.lease;
  };

  it('counts a late child of a run whose budget was forgotten against that same budget', () => {
    const store = new MemoryQuotaStore();
    const root = store.createNode({ key: 's', limits: {}, ephemeral: false });
    const parentBudget = store.createNode({ key: 's/parent#1', limits: { tokens: 100 }, ephemeral: true });
    const parent = leaseOf(store.reserve(request([root, parentBudget], 10)));
    store.charge(parent, { tokens: 70, costNanos: 0 });
    store.settle(parent);
    expect(store.read('s/parent#1')).toBeUndefined();

    // The late child passes the same node object: the budget comes back with what it had used.
    expect(store.reserve(request([root, parentBudget], 40))).toMatchObject({
      admitted: false,
      violation: { resource: 'tokens', key: 's/parent#1', limit: 100, used: 70, requested: 40 },
    });
    const child = leaseOf(store.reserve(request([root, parentBudget], 20)));
    expect(store.read('s/parent#1')).toMatchObject({ used: { executions: 1, tokens: 70 }, reserved: { tokens: 20, concurrent: 1 } });
    expect(store.charge(child, { tokens: 35, costNanos: 0 })).toMatchObject({ resource: 'tokens', key: 's/parent#1', limit: 100 });
    store.settle(child);
    expect(store.read('s/parent#1')).toBeUndefined();

    // Another node object under the same key is another budget.
    const other = store.createNode({ key: 's/parent#1', limits: { tokens: 100 }, ephemeral: true });
    expect(store.reserve(request([root, other], 40))).toMatchObject({ admitted: true });
  });

  it('makes one node per scope key, whoever asks (two quotas on one store share a scope)', () => {
    const store = new MemoryQuotaStore();
    const limits = { executions: 1 };
    const first = store.createNode({ key: 's', limits, ephemeral: false });
    const second = store.createNode({ key: 's', limits, ephemeral: false });
    expect(second).toBe(first);
    expect([...store.scopes()]).toEqual([]);
    leaseOf(store.reserve(request([first])));
    expect(store.reserve(request([second]))).toMatchObject({ admitted: false, violation: { resource: 'executions' } });
    expect([...store.scopes()]).toEqual(['s']);
  });

  it("makes a forgotten scope's node over for the next new scope, from nothing; late usage of the forgotten scope counts nowhere", () => {
    const store = new MemoryQuotaStore();
    const limits = { tokens: 100, windows: [new CalendarWindow('hour', 'UTC', { executions: 10 })] };
    const first = store.createNode({ key: 'c0', limits, ephemeral: false });
    const lease = leaseOf(store.reserve(request([first], 10)));
    store.charge(lease, { tokens: 30, costNanos: 0 });
    store.settle(lease);
    store.forget(first);
    expect(store.read('c0')).toBeUndefined();

    const second = store.createNode({ key: 'c1', limits, ephemeral: false });
    expect(second).toBe(first);
    leaseOf(store.reserve(request([second], 5)));
    // The settled lease of c0 is charged late: not to c1, whose node it was made over into.
    expect(store.charge(lease, { tokens: 90, costNanos: 0 })).toBeUndefined();
    expect(store.read('c1')).toMatchObject({ used: { executions: 0, tokens: 0 }, reserved: { executions: 1, tokens: 5 } });
    expect(store.read('c1')!.windows![0]).toMatchObject({ used: { executions: 0 }, reserved: { executions: 1 } });
    expect([...store.scopes()]).toEqual(['c1']);
  });

  it("empties a rolling window's buckets when it makes a node over, and reads give copies that stay as they were", () => {
    const store = new MemoryQuotaStore();
    const limits = { windows: [new RollingWindow(60_000, 6, { tokens: 1_000 })] };
    const first = store.createNode({ key: 'c0', limits, ephemeral: false });
    for (let step = 0; step < 6; step++) {
      const lease = leaseOf(store.reserve({ ...request([first]), now: T0 + step * 10_000 }));
      store.charge(lease, { tokens: 100, costNanos: 0 }, T0 + step * 10_000);
      store.settle(lease, T0 + step * 10_000);
    }
    const kept = store.read('c0', T0 + 50_000)!;
    store.forget(first);
    const second = store.createNode({ key: 'c1', limits, ephemeral: false });
    expect(second).toBe(first);
    leaseOf(store.reserve({ ...request([second], 7), now: T0 + 50_000 }));
    expect(store.read('c1', T0 + 50_000)!.windows![0]).toMatchObject({ used: { executions: 0, tokens: 0 }, reserved: { executions: 1, tokens: 7 } });
    expect(kept).toMatchObject({ used: { executions: 6, tokens: 600 }, reserved: { executions: 0 } });
    expect(kept.windows![0]).toMatchObject({ used: { tokens: 600 } });

    // Without windows too: a read is never the node itself.
    const plain = store.createNode({ key: 'p0', limits: {}, ephemeral: false });
    store.settle(leaseOf(store.reserve(request([plain]))));
    const plainRead = store.read('p0')!;
    store.forget(plain);
    store.settle(leaseOf(store.reserve(request([store.createNode({ key: 'p1', limits: {}, ephemeral: false })]))));
    expect(plainRead).toMatchObject({ used: { executions: 1 } });
    expect(plainRead).not.toHaveProperty('key');
  });

  it('forgets a node once: forgetting it again while it waits to be made over changes nothing', () => {
    const store = new MemoryQuotaStore();
    const shared = { key: 's', limits: { executions: 5 }, ephemeral: false };
    const node = store.createNode(shared);
    store.forget(node);
    store.forget(node);
    // Two quotas take the scope anew: it is one node, held twice, which one forget does not drop.
    const first = store.createNode(shared);
    const second = store.createNode(shared);
    expect(second).toBe(first);
    leaseOf(store.reserve(request([first])));
    store.forget(first);
    expect([...store.scopes()]).toEqual(['s']);
    expect(store.createNode({ key: 'other', limits: {}, ephemeral: false })).not.toBe(first);
  });

  it('refuses a node it did not make, naming it', () => {
    const store = new MemoryQuotaStore();
    const foreign = new MemoryQuotaStore().createNode({ key: 's', limits: {}, ephemeral: false });
    expect(() => store.reserve(request([foreign]))).toThrow("node 's' was not made by this store's createNode()");
  });
});

/** Admits a run that only the concurrency limit denies. */
class OverAdmittingStore extends MemoryQuotaStore {
  override reserve(request: ReserveRequest<MemoryNode>): ReserveResult<MemoryLease> {
    const result = super.reserve(request);
    if (result.admitted || result.violation.resource !== 'concurrent') return result;
    const admitted = super.reserve({ ...request, enforce: false });
    return admitted.admitted ? { ...admitted, violation: undefined } : admitted;
  }
}

/** Never gives back what a run nested two budgets deep held. */
class SlotLeakingStore extends MemoryQuotaStore {
  override settle(lease: MemoryLease): void {
    if (lease.nodes.length <= 2) super.settle(lease);
  }
}

async function failures(cases: QuotaStoreConformanceCase[]): Promise<Map<string, Error>> {
  const failed = new Map<string, Error>();
  for (const check of cases) {
    await check.run().catch((error: unknown) => void failed.set(check.name, error as Error));
  }
  return failed;
}

describe('the conformance kit', () => {
  it('fails a store that over-admits, in an explicit case and in the random workloads', async () => {
    const failed = await failures(quotaStoreConformance({ createStore: () => new OverAdmittingStore(), seed: 7 }));
    expect([...failed.keys()]).toContain('checks limits in order and names the node that tripped');
    const random = [...failed].find(([name]) => name.includes('random workloads'))?.[1];
    expect(random?.message).toMatch(/^random workload \d+ \(seed 7\) failed at step \d+ of \d+; replay with \{ seed: 7 \}\n/);
    expect(random?.message).toContain('reserve result');
  });

  it('fails a store that leaks a slot, and replays the same failure from the seed', async () => {
    const randomCase = (seed: number): QuotaStoreConformanceCase =>
      quotaStoreConformance({ createStore: () => new SlotLeakingStore(), seed }).find((check) => check.name.includes('random workloads'))!;
    const failed = await failures(quotaStoreConformance({ createStore: () => new SlotLeakingStore(), seed: 11 }));
    expect([...failed.keys()]).toContain('forgets a run budget once nothing is in flight under it, and keeps the scope');
    const first = await randomCase(11)
      .run()
      .then(
        () => undefined,
        (error: unknown) => error as Error,
      );
    const again = await randomCase(11)
      .run()
      .then(
        () => undefined,
        (error: unknown) => error as Error,
      );
    expect(first?.message).toMatch(/\(seed 11\) failed at/);
    expect(again?.message).toBe(first?.message);
  });

  it('passes the store it compares with, whatever the seed', async () => {
    for (const seed of [0, 1, 2 ** 32 - 1]) {
      expect(await failures(quotaStoreConformance({ createStore: () => new MemoryQuotaStore(), seed, workloads: 20 }))).toEqual(new Map());
    }
  });

  it('closes every store it created, also after a failure', async () => {
    let open = 0;
    const cases = quotaStoreConformance({
      createStore: () => (open++, new OverAdmittingStore()),
      closeStore: () => {
        open--;
      },
      seed: 3,
      workloads: 5,
    });
    await failures(cases);
    expect(open).toBe(0);
  });

  it('rejects invalid options, naming the field', () => {
    expect(() => quotaStoreConformance({} as never)).toThrow(/options\.createStore must be a function/);
    const createStore = (): MemoryQuotaStore => new MemoryQuotaStore();
    expect(() => quotaStoreConformance({ createStore, seed: -1 })).toThrow(/options\.seed/);
    expect(() => quotaStoreConformance({ createStore, workloads: 0 })).toThrow(/options\.workloads/);
    expect(() => quotaStoreConformance({ createStore, maxSteps: 1.5 })).toThrow(/options\.maxSteps/);
  });
});
