import type { QuotaResource } from '../semconv.js';
import type { BudgetWindow } from './windows.js';

/**
 * The accounting behind quotas, and the extension point for shared stores. The in-memory store
 * is the default; `agentmetry/redis` provides one shared across replicas, and any other backend
 * can implement this interface and prove itself with the conformance kit of
 * `agentmetry/quota-store`.
 *
 * A store sees only numbers and keys: the quota decides scopes, budgets, warnings and what a
 * denial means for a run. `Lease` is the store's own handle on one admitted run: whatever
 * `reserve` returns in it is what `charge` and `settle` receive, so a store never downcasts.
 *
 * Units: `tokens`, `executions` and `concurrent` are counts, money is integer nano-dollars
 * (`costNanos`), times are epoch milliseconds.
 *
 * Windows: a node's `limits.windows` bound executions, tokens and cost per window as well. A
 * lease counts in the bucket of each window that held its admission time (`now` of `reserve`),
 * and nowhere once that bucket has left its window. Every operation receives the caller's `now`
 * (`Date.now()` when omitted), so that a store decides by the clock the quota reads (and tests can move it).
 */
export interface QuotaStore<Lease = unknown, Node extends BudgetNode = BudgetNode> {
  /** Shown in errors and logs, e.g. `memory` or `redis`. */
  readonly name: string;
  /**
   * Optional. Makes the node object the quota will pass for a scope (once per scope) or a run's
   * own budget (once per budget), so that the store can keep its state on it and find it again
   * without a lookup. Without it the quota passes plain `BudgetNode` objects, and the store
   * finds its state by `key`.
   */
  createNode?(node: BudgetNode): Node;
  /**
   * Checks every limit of every node and, when all fit (or `enforce` is false), reserves one
   * execution, one concurrency slot and the estimate on each node, as one atomic step.
   * A store that cannot decide rejects with `QuotaStoreUnavailableError` (deny) or admits with
   * `unaccounted: true` (allow), as its own options say.
   */
  reserve(request: ReserveRequest<Node>): ReserveResult<Lease> | Promise<ReserveResult<Lease>>;
  /**
   * Charges usage to a lease's nodes: first out of what the lease still holds in reserve, the
   * rest on top. Returns the first hard limit now exceeded, if any. A settled lease's usage is
   * charged directly (late usage still counts).
   */
  charge(lease: Lease, usage: LedgerUsage, now?: number): ChargeResult | Promise<ChargeResult>;
  /** Releases what the lease still holds and its concurrency slot; its execution becomes used. Idempotent. */
  settle(lease: Lease, now?: number): void | Promise<void>;
  /**
   * Optional. Gives back everything a lease holds, its execution included, for a run admitted but
   * cancelled before it started (its signal fired while an asynchronous `reserve` was in flight).
   * Once cancelled, `settle` changes nothing. Without it the lease is settled: the execution counts.
   */
  cancel?(lease: Lease, now?: number): void | Promise<void>;
  /**
   * Optional. Holds `amount` more on a lease's nodes (the worst case of one model call), as one
   * atomic step: when it does not fit a limit of some node, holds nothing and returns that limit
   * (or, when `enforce` is false, holds it anyway and returns the limit it passes). A window
   * counts it in the lease's admission bucket while that bucket is live. Charges draw on what
   * is held first; `release` gives back what the call did not use. A settled lease holds nothing.
   */
  hold?(lease: Lease, amount: LedgerUsage, enforce: boolean, now?: number): HoldResult | Promise<HoldResult>;
  /** Optional, with `hold`: gives back up to `amount` of what a lease still holds. */
  release?(lease: Lease, amount: LedgerUsage, now?: number): void | Promise<void>;
  /** The current state of a node at `now`, as far as this process knows it (exact for the in-memory store). */
  read(key: string, now?: number): LedgerState | undefined;
  /**
   * Optional. The quota no longer uses this scope node (nothing in flight, nothing left to
   * enforce): the store may drop what it keeps for it. A later run in the same scope gets a new
   * node from `createNode` and starts from nothing (or, for a shared store, from what is left in it).
   */
  forget?(node: Node): void;
  /** The keys of every scope (root node) this store knows. */
  scopes(): Iterable<string>;
  /** Stops background work and releases what the store owns. */
  close?(): Promise<void>;
}

/** Counts a ledger node tracks, in ledger units. */
export interface LedgerAmounts {
  executions: number;
  tokens: number;
  costNanos: number;
  concurrent: number;
}

/** Limits of a ledger node, in ledger units; absent means unlimited. */
export interface LedgerLimits {
  executions?: number;
  tokens?: number;
  costNanos?: number;
  concurrent?: number;
  wallTimeMs?: number;
  /** Limits per window. */
  windows?: readonly BudgetWindow[];
}

/** One node's state: `used` is consumed for good, `reserved` is held by runs in flight. */
export interface LedgerState {
  readonly used: LedgerAmounts;
  readonly reserved: LedgerAmounts;
  /** Epoch ms of the node's first admission; the wall-time deadline counts from here. */
  readonly startedAt: number | undefined;
  readonly limits: LedgerLimits;
  /** Per entry of `limits.windows`, in the same order: what counts in it at the time read. */
  readonly windows?: readonly WindowState[];
}

/** What counts in one window of a node: its live buckets summed. */
export interface WindowState {
  readonly window: BudgetWindow;
  /** Executions, tokens and nano-dollars consumed in the window (`concurrent` is 0). */
  readonly used: LedgerAmounts;
  /** Held in the window by runs in flight (`concurrent` is 0). */
  readonly reserved: LedgerAmounts;
}

/**
 * One level of a budget hierarchy: a scope (the root, shared by every run in it) or a run's own
 * budget. The quota passes the same node object for the same budget every time: the one
 * `createNode` made, where the store has it.
 */
export interface BudgetNode {
  readonly key: string;
  readonly limits: LedgerLimits;
  /** A run budget: the store may forget it once nothing is in flight under it. */
  readonly ephemeral: boolean;
  /**
   * A scope: how long a shared store keeps its counts once nothing is in flight in it (and every
   * window it counted in has closed), in ms; undefined keeps them for good. The quota passes `0`
   * for a scope that counts nothing beyond its windows, the level's `idleTtlMs` for one with
   * lifetime limits, and undefined for a level's single `'global'` scope. The in-memory store
   * ignores it: the quota's `forget` is what drops its scopes.
   */
  readonly idleTtlMs?: number;
}

export interface LedgerUsage {
  tokens: number;
  costNanos: number;
}

export interface ReserveRequest<Node extends BudgetNode = BudgetNode> {
  /** Root scope first, then each ancestor's budget, then the run's own budget. */
  nodes: readonly Node[];
  /** The run's estimate. */
  estimate: LedgerUsage;
  /** Epoch ms of the decision. */
  now: number;
  /** When false (observe mode) the store reserves even when a limit does not fit, and reports it. */
  enforce: boolean;
}

/** The limit that did not fit, in ledger units. */
export interface LedgerViolation {
  resource: Extract<QuotaResource, 'executions' | 'tokens' | 'costUsd' | 'wallTimeMs' | 'concurrent'>;
  /** Key of the node whose limit tripped. */
  key: string;
  /** The label of the window whose limit tripped; absent for a limit that never resets. */
  window?: string;
  limit: number;
  /** Consumed plus reserved at the decision. */
  used: number;
  requested: number;
}

export type ReserveResult<Lease = unknown> =
  | {
      admitted: true;
      lease: Lease;
      /** Earliest wall-time deadline (epoch ms) over the nodes, if any has one. */
      deadline: number | undefined;
      /** In observe mode: the limit that would have denied this run. */
      violation: LedgerViolation | undefined;
      /** The store could not account the run and admitted it anyway (a shared store with `onUnavailable: 'allow'`). */
      unaccounted?: boolean;
    }
  | { admitted: false; violation: LedgerViolation };

/** What `hold` did: whether the amount is held, and the limit it did not fit (or, not enforcing, passes). */
export interface HoldResult {
  held: boolean;
  violation: LedgerViolation | undefined;
}

/** The limit a charge pushed past, if any. */
export type ChargeResult = LedgerViolation | undefined;

export function emptyAmounts(): LedgerAmounts {
  return { executions: 0, tokens: 0, costNanos: 0, concurrent: 0 };
}
