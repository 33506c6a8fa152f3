/**
 * `agentmetry/quota-store`: the quota store extension point. Implement `QuotaStore` over any
 * backend, and prove it with the conformance kit, from any test runner:
 *
 * ```ts
 * import { quotaStoreConformance } from 'agentmetry/quota-store';
 * for (const check of quotaStoreConformance({ createStore: () => new MyStore() })) it(check.name, check.run);
 * ```
 */

/** The default store: one process, exact; the reference the conformance kit compares stores with. */
export { MemoryQuotaStore } from '../quota/memory-store.js';
/** `MemoryQuotaStore`'s handle on one admitted run (what `reserve` returns in `lease`), and its node (what `createNode` makes: the node carries its counts). */
export type { MemoryLease, MemoryNode } from '../quota/memory-store.js';
/** The conformance kit: the cases a store must pass, each a name and a `run()` that rejects on failure. */
export { quotaStoreConformance } from '../quota/conformance/kit.js';
/** Options and cases of the conformance kit. */
export type { QuotaStoreConformanceCase, QuotaStoreConformanceOptions } from '../quota/conformance/kit.js';
/** The accounting behind quotas, generic over the store's own lease type. */
export type { QuotaStore } from '../quota/store.js';
/** One level of a budget hierarchy: a scope, or a run's own (ephemeral) budget. */
export type { BudgetNode } from '../quota/store.js';
/** Limits of a ledger node, in ledger units (integer nano-dollars for cost); absent means unlimited. */
export type { LedgerLimits } from '../quota/store.js';
/** Counts a ledger node tracks: executions, tokens, nano-dollars, concurrency slots. */
export type { LedgerAmounts } from '../quota/store.js';
/** One node's state: consumed, reserved by runs in flight, start time and limits. */
export type { LedgerState } from '../quota/store.js';
/** Usage charged to a lease: tokens and nano-dollars. */
export type { LedgerUsage } from '../quota/store.js';
/** The limit that did not fit, and on which node. */
export type { LedgerViolation } from '../quota/store.js';
/** What `reserve` is asked: the nodes, the estimate, the time and whether to enforce. */
export type { ReserveRequest } from '../quota/store.js';
/** What `reserve` decided: a lease and deadline, or the violation that denied the run. */
export type { ReserveResult } from '../quota/store.js';
/** What `charge` found: the hard limit now exceeded, if any. */
export type { ChargeResult } from '../quota/store.js';
/** What counts in one window of a node (`LedgerState.windows`). */
export type { WindowState } from '../quota/store.js';
/** A node's windows: which bucket a time falls in and which buckets still count (`LedgerLimits.windows`). */
export { BudgetWindow, CalendarWindow, RollingWindow } from '../quota/windows.js';
/** A window's limits, in ledger units. */
export type { WindowLimits, CalendarPeriod } from '../quota/windows.js';
/** What a store rejects `reserve` with when it cannot decide and is configured to deny. */
export { QuotaStoreUnavailableError } from '../errors.js';
