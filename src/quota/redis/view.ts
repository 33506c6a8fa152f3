import { emptyAmounts, type LedgerAmounts, type LedgerLimits, type LedgerState } from '../store.js';
import { nodeKey, type HierarchyKeys } from './keys.js';
import type { NodeReply } from './replies.js';

/**
 * The Redis store's local view of the nodes this process knows, behind `read()` and `scopes()`:
 * every script reply updates it, and the background sync refreshes it.
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
}

interface ViewEntry extends ViewedNode {
  readonly state: MutableLedgerState;
}

export class LocalView {
  readonly #entries = new Map<string, ViewEntry>();
  readonly #scopes = new Set<string>();
  /** Keys of the nodes of each hierarchy, which the background sync reads back. */
  readonly #byHierarchy = new Map<HierarchyKeys, Set<string>>();

  read(key: string): LedgerState | undefined {
    return this.#entries.get(key)?.state;
  }

  scopes(): Iterable<string> {
    return this.#scopes;
  }

  /** The nodes of one hierarchy, as a snapshot. */
  nodesOf(hierarchy: HierarchyKeys): ViewedNode[] {
    const keys = this.#byHierarchy.get(hierarchy);
    return keys === undefined ? [] : [...keys].map((key) => this.#entries.get(key)!);
  }

  /**
   * Updates one node from its state in a script reply. A run budget missing from Redis (nothing
   * in flight under it) is forgotten, unless `keepMissing` (a reservation that just counted on it).
   * `limits` are the node's as the request gave them; undefined keeps what the view has.
   */
  apply(hierarchy: HierarchyKeys, node: { key: string; ephemeral: boolean; limits?: LedgerLimits | undefined }, reply: NodeReply, keepMissing: boolean): void {
    const { key, ephemeral, limits } = node;
    if (!reply.exists && ephemeral && !keepMissing) {
      this.#entries.delete(key);
      this.#byHierarchy.get(hierarchy)?.delete(key);
      return;
    }
    const { state } = this.#entry(hierarchy, key, ephemeral, limits);
    Object.assign(state.used, reply.used);
    Object.assign(state.reserved, reply.reserved);
    state.startedAt = reply.startedAt;
    if (limits !== undefined) state.limits = limits;
  }

  #entry(hierarchy: HierarchyKeys, key: string, ephemeral: boolean, limits: LedgerLimits | undefined): ViewEntry {
    let entry = this.#entries.get(key);
    if (entry === undefined) {
      const state: MutableLedgerState = { used: emptyAmounts(), reserved: emptyAmounts(), startedAt: undefined, limits: limits ?? {} };
      entry = { key, state, redisKey: nodeKey(hierarchy, key, ephemeral), ephemeral };
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
}
