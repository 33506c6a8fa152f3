import { randomBytes } from 'node:crypto';
import type { BudgetNode } from '../store.js';

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
      keys = { leases: `${base}:leases`, base };
      this.#hierarchies.set(tag, keys);
    }
    return keys;
  }

  /** Every hierarchy this process has used. */
  hierarchies(): Iterable<HierarchyKeys> {
    return this.#hierarchies.values();
  }
}

/** The Redis key of a budget node: a scope is shared by every replica, a run budget is namespaced by process. */
export function nodeKey(hierarchy: HierarchyKeys, key: string, ephemeral: boolean): string {
  return ephemeral ? `${hierarchy.base}:run:${PROCESS_ID}:${key}` : `${hierarchy.base}:node:${key}`;
}

/** KEYS of the reserve, charge and settle scripts on one lease: leases, the lease, then the nodes. */
export function leaseScriptKeys(hierarchy: HierarchyKeys, leaseId: string, nodes: readonly BudgetNode[]): string[] {
  const keys = [hierarchy.leases, `${hierarchy.leases}:${leaseId}`];
  for (const node of nodes) keys.push(nodeKey(hierarchy, node.key, node.ephemeral));
  return keys;
}

/**
 * The hash tag of a budget hierarchy: its root scope's key with braces replaced, so that the tag
 * is never empty and never cut short (Redis hashes only what is between the first `{` and `}`).
 */
export function hashTag(scope: string): string {
  const tag = scope.replace(/[{}]/g, '_');
  return tag === '' ? '_' : tag;
}
