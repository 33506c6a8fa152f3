import { randomBytes } from 'node:crypto';
import type { BudgetNode } from '../store.js';
import type { BudgetWindow } from '../windows.js';

/**
 * The key layout of the Redis store (the scripts' side of it is described in `scripts.ts`).
 * `P` is the key prefix, `T` the hash tag of a hierarchy's root scope:
 * - `P{T}:leases` and `P{T}:leases:<lease id>`: the hierarchy's leases;
 * - `P{T}:node:<key>`: a scope, shared by every replica;
 * - `P{T}:run:<process>:<key>`: a run budget, which belongs to one run in one process.
 *
 * Every key of one hierarchy carries its hash tag, so a script touches one slot (Redis Cluster).
 */

/**
 * This process's namespace, drawn once: it prefixes lease ids and the keys of run budgets, whose
 * own keys are only unique within one process.
 */
export const PROCESS_ID = randomBytes(9).toString('base64url');

/** The keys of one budget hierarchy (one hash tag). One object per tag, so it can key maps. */
export interface HierarchyKeys {
  /** The sorted set of the hierarchy's leases. */
  readonly leases: string;
  /** What every key of the hierarchy starts with: `P{T}`. */
  readonly base: string;
  /** The hash tag `T`. */
  readonly tag: string;
}

/** The keys of every hierarchy under one prefix, made once per hash tag. */
export class KeyLayout {
  readonly #prefix: string;
  readonly #hierarchies = new Map<string, HierarchyKeys>();

  constructor(prefix: string) {
    this.#prefix = prefix;
  }

  /** The keys of the hierarchy whose root scope is `scope`. */
  hierarchy(scope: string): HierarchyKeys {
    const tag = hashTag(scope);
    let keys = this.#hierarchies.get(tag);
    if (keys === undefined) {
      const base = `${this.#prefix}{${tag}}`;
      keys = { leases: `${base}:leases`, base, tag };
      this.#hierarchies.set(tag, keys);
    }
    return keys;
  }

  /** Forgets a hierarchy nothing in this process uses any more; a later use makes it again. */
  drop(hierarchy: HierarchyKeys): void {
    if (this.#hierarchies.get(hierarchy.tag) === hierarchy) this.#hierarchies.delete(hierarchy.tag);
  }

  /** Every hierarchy this process uses. */
  hierarchies(): Iterable<HierarchyKeys> {
    return this.#hierarchies.values();
  }
}

/** The Redis key of a budget node: a scope is shared by every replica, a run budget is namespaced by process. */
export function nodeKey(hierarchy: HierarchyKeys, key: string, ephemeral: boolean): string {
  return ephemeral ? `${hierarchy.base}:run:${PROCESS_ID}:${key}` : `${hierarchy.base}:node:${key}`;
}

/** The Redis key of one window of a budget node (labels are unique among a node's windows). */
export function windowKey(hierarchy: HierarchyKeys, key: string, ephemeral: boolean, window: BudgetWindow): string {
  return `${hierarchy.base}:win:${window.label}:${ephemeral ? `run:${PROCESS_ID}` : 'node'}:${key}`;
}

/**
 * KEYS of the reserve, charge and settle scripts on one lease: leases, the lease, the nodes, then
 * the windows of each node in turn.
 */
export function leaseScriptKeys(hierarchy: HierarchyKeys, leaseId: string, nodes: readonly BudgetNode[]): string[] {
  const keys = [hierarchy.leases, `${hierarchy.leases}:${leaseId}`];
  for (const node of nodes) keys.push(nodeKey(hierarchy, node.key, node.ephemeral));
  for (const node of nodes) for (const window of node.limits.windows ?? []) keys.push(windowKey(hierarchy, node.key, node.ephemeral, window));
  return keys;
}

/** How many windows each node has, in order: the shape of a script's reply. */
export function windowCounts(nodes: readonly BudgetNode[]): number[] {
  return nodes.map((node) => node.limits.windows?.length ?? 0);
}

/**
 * The hash tag of a budget hierarchy: its root scope's key with braces replaced, so that the tag
 * is never empty and never cut short (Redis hashes only what is between the first `{` and `}`).
 */
export function hashTag(scope: string): string {
  const tag = scope.replace(/[{}]/g, '_');
  return tag === '' ? '_' : tag;
}
