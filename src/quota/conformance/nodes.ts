import type { BudgetNode, QuotaStore } from '../store.js';

const madeBy = new WeakMap<object, WeakMap<BudgetNode, BudgetNode>>();

/**
 * The nodes to pass `store` for the kit's plain nodes: the store's own (`createNode`), made once
 * per plain node and store, as the quota does; the plain nodes for a store without `createNode`.
 */
export function storeNodes(store: QuotaStore, nodes: readonly BudgetNode[]): readonly BudgetNode[] {
  const createNode = store.createNode?.bind(store);
  if (createNode === undefined) return nodes;
  let made = madeBy.get(store);
  if (made === undefined) madeBy.set(store, (made = new WeakMap()));
  return nodes.map((node) => {
    let own = made.get(node);
    if (own === undefined) made.set(node, (own = createNode(node)));
    return own;
  });
}
