import { emptyAmounts, type LedgerAmounts, type LedgerLimits, type LedgerState, type WindowState } from '../store.js';
import type { BudgetWindow } from '../windows.js';
import { nodeKey, windowKey, type HierarchyKeys } from './keys.js';
import type { BucketReply, NodeReply } from './replies.js';

/**
 * The Redis store's local view of the nodes this process knows, behind `read()` and `scopes()`:
 * every script reply updates it, and the background sync refreshes it. Windows are kept as the
 * live buckets Redis last returned, so that `read(key, now)` sums those still live at `now`.
 */

interface MutableLedgerState extends LedgerState {
  used: LedgerAmounts;
  reserved: LedgerAmounts;
  startedAt: number | undefined;
  limits: LedgerLimits;
}

/** A node the view knows, as the background sync reads it back. */
export interface ViewedNode {
  readonly key: string;
  readonly redisKey: string;
  readonly ephemeral: boolean;
  /** The node's windows and their Redis keys, in the order of its limits. */
  readonly windows: ReadonlyArray<{ readonly key: string; readonly window: BudgetWindow }>;
}

interface ViewEntry extends ViewedNode {
  readonly hierarchy: HierarchyKeys;
  readonly state: MutableLedgerState;
  windows: ReadonlyArray<{ readonly key: string; readonly window: BudgetWindow }>;
  /** Per window: the live buckets as last read from Redis. */
  buckets: ReadonlyArray<readonly BucketReply[]>;
}

export class LocalView {
  readonly #entries = new Map<string, ViewEntry>();
  readonly #scopes = new Set<string>();
  /** Keys of the nodes of each hierarchy, which the background sync reads back. */
  readonly #byHierarchy = new Map<HierarchyKeys, Set<string>>();

  read(key: string, now: number): LedgerState | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined || entry.windows.length === 0) return entry?.state;
    const { used, reserved, startedAt, limits } = entry.state;
    const windows = entry.windows.map(({ window }, index) => windowState(window, entry.buckets[index] ?? [], now));
    return { used, reserved, startedAt, limits, windows };
  }

  scopes(): Iterable<string> {
    return this.#scopes;
  }

  /** The nodes of one hierarchy, as a snapshot. */
  nodesOf(hierarchy: HierarchyKeys): ViewedNode[] {
    const keys = this.#byHierarchy.get(hierarchy);
    return keys === undefined ? [] : [...keys].map((key) => this.#entries.get(key)!);
  }

  /** Drops a scope the quota no longer uses; returns its hierarchy, if the view had it. */
  forget(key: string): HierarchyKeys | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    this.#remove(entry);
    return entry.hierarchy;
  }

  /**
   * Updates one node from its state in a script reply. A run budget missing from Redis (nothing
   * in flight under it) is forgotten, unless `keepMissing` (a reservation that just counted on it).
   * `limits` are the node's as the request gave them; undefined keeps what the view has. Only a
   * reservation (`create`) adds a node the view does not have: a late reply for a scope the quota
   * has forgotten since does not bring it back.
   */
  apply(
    hierarchy: HierarchyKeys,
    node: { key: string; ephemeral: boolean; limits?: LedgerLimits | undefined },
    reply: NodeReply,
    keepMissing: boolean,
    create: boolean,
  ): void {
    const { key, ephemeral, limits } = node;
    if (!reply.exists && ephemeral && !keepMissing) {
      const entry = this.#entries.get(key);
      if (entry !== undefined) this.#remove(entry);
      return;
    }
    if (!create && !this.#entries.has(key)) return;
    const entry = this.#entry(hierarchy, key, ephemeral, limits);
    const { state } = entry;
    Object.assign(state.used, reply.used);
    Object.assign(state.reserved, reply.reserved);
    state.startedAt = reply.startedAt;
    if (limits !== undefined && limits !== state.limits) {
      state.limits = limits;
      entry.windows = windowKeys(hierarchy, key, ephemeral, limits);
    }
    if (reply.windows.length === entry.windows.length) entry.buckets = reply.windows;
  }

  #entry(hierarchy: HierarchyKeys, key: string, ephemeral: boolean, limits: LedgerLimits | undefined): ViewEntry {
    let entry = this.#entries.get(key);
    if (entry === undefined) {
      const state: MutableLedgerState = { used: emptyAmounts(), reserved: emptyAmounts(), startedAt: undefined, limits: limits ?? {} };
      const windows = windowKeys(hierarchy, key, ephemeral, state.limits);
      entry = { key, hierarchy, state, redisKey: nodeKey(hierarchy, key, ephemeral), ephemeral, windows, buckets: [] };
      this.#entries.set(key, entry);
      let keys = this.#byHierarchy.get(hierarchy);
      if (keys === undefined) {
        keys = new Set();
        this.#byHierarchy.set(hierarchy, keys);
      }
      keys.add(key);
      if (!ephemeral) this.#scopes.add(key);
    }
    return entry;
  }

  #remove(entry: ViewEntry): void {
    if (this.#entries.get(entry.key) !== entry) return;
    this.#entries.delete(entry.key);
    this.#scopes.delete(entry.key);
    const keys = this.#byHierarchy.get(entry.hierarchy);
    keys?.delete(entry.key);
    if (keys?.size === 0) this.#byHierarchy.delete(entry.hierarchy);
  }
}

function windowKeys(hierarchy: HierarchyKeys, key: string, ephemeral: boolean, limits: LedgerLimits): ViewedNode['windows'] {
  return (limits.windows ?? []).map((window) => ({ key: windowKey(hierarchy, key, ephemeral, window), window }));
}

/** What counts in one window at `now`: the buckets still live then, summed. */
function windowState(window: BudgetWindow, buckets: readonly BucketReply[], now: number): WindowState {
  const used = emptyAmounts();
  const reserved = emptyAmounts();
  const oldest = window.oldestLiveStart(now);
  for (const bucket of buckets) {
    if (bucket.start < oldest) continue;
    used.executions += bucket.used.executions;
    used.tokens += bucket.used.tokens;
    used.costNanos += bucket.used.costNanos;
    reserved.executions += bucket.reserved.executions;
    reserved.tokens += bucket.reserved.tokens;
    reserved.costNanos += bucket.reserved.costNanos;
  }
  return { window, used, reserved };
}
