import type {
  BudgetNode,
  ChargeResult,
  LedgerAmounts,
  LedgerLimits,
  LedgerState,
  LedgerUsage,
  LedgerViolation,
  QuotaStore,
  ReserveRequest,
  ReserveResult,
} from './store.js';

/**
 * A budget node that carries its own counts, as flat fields: admission touches one object per
 * node and looks nothing up, which keeps it constant-time with many thousands of scopes. Made
 * by `MemoryQuotaStore.createNode`; the quota passes it back on every reservation.
 */
export class MemoryNode implements BudgetNode, LedgerState {
  usedExecutions = 0;
  usedTokens = 0;
  usedCostNanos = 0;
  reservedExecutions = 0;
  reservedTokens = 0;
  reservedCostNanos = 0;
  inFlight = 0;
  startedAt: number | undefined = undefined;
  /** Findable by key (`read`, `scopes`): a scope from its first reservation on, a run budget while something is in flight under it. */
  listed = false;

  constructor(
    readonly owner: MemoryQuotaStore,
    readonly key: string,
    readonly limits: LedgerLimits,
    readonly ephemeral: boolean,
  ) {}

  get used(): LedgerAmounts {
    return { executions: this.usedExecutions, tokens: this.usedTokens, costNanos: this.usedCostNanos, concurrent: 0 };
  }

  get reserved(): LedgerAmounts {
    return { executions: this.reservedExecutions, tokens: this.reservedTokens, costNanos: this.reservedCostNanos, concurrent: this.inFlight };
  }
}

/**
 * `MemoryQuotaStore`'s handle on one admitted run: its nodes and what it still holds in reserve.
 * The store's own bookkeeping: pass it back to the store, never change it.
 */
export class MemoryLease {
  settled = false;
  constructor(
    readonly nodes: readonly MemoryNode[],
    public heldTokens: number,
    public heldCostNanos: number,
  ) {}
}

/**
 * The default store: one process, exact. Check and reserve are one synchronous step, so no
 * other run can interleave between them.
 */
export class MemoryQuotaStore implements QuotaStore<MemoryLease, MemoryNode> {
  readonly name = 'memory';
  /** Listed nodes by key: scopes for good, run budgets while something is in flight under them. */
  readonly #nodes = new Map<string, MemoryNode>();
  readonly #scopes = new Set<string>();
  /** Every scope node made, by key, so that every quota on this store shares one per scope. */
  readonly #scopeNodes = new Map<string, MemoryNode>();

  /** A scope's node is one per key; a run budget's is new each time. */
  createNode(node: BudgetNode): MemoryNode {
    if (node.ephemeral) return new MemoryNode(this, node.key, node.limits, true);
    let scope = this.#scopeNodes.get(node.key);
    if (scope === undefined) {
      scope = new MemoryNode(this, node.key, node.limits, false);
      this.#scopeNodes.set(node.key, scope);
    }
    return scope;
  }

  reserve(request: ReserveRequest<MemoryNode>): ReserveResult<MemoryLease> {
    const { nodes, estimate, now } = request;
    let violation: LedgerViolation | undefined;
    for (const node of nodes) {
      if (node.owner !== this) throw new TypeError(`MemoryQuotaStore: node '${node.key}' was not made by this store's createNode()`);
      if (!node.listed) this.#list(node);
      violation ??= findViolation(node, estimate, now);
    }
    if (violation && request.enforce) {
      // A denied run's own budget node (or a budget no run is under any more) is not kept.
      for (const node of nodes) if (node.ephemeral && node.inFlight === 0) this.#unlist(node);
      return { admitted: false, violation };
    }

    let deadline: number | undefined;
    for (const node of nodes) {
      node.startedAt ??= now;
      node.reservedExecutions += 1;
      node.inFlight += 1;
      node.reservedTokens += estimate.tokens;
      node.reservedCostNanos += estimate.costNanos;
      const wallTimeMs = node.limits.wallTimeMs;
      if (wallTimeMs !== undefined) {
        const nodeDeadline = node.startedAt + wallTimeMs;
        if (deadline === undefined || nodeDeadline < deadline) deadline = nodeDeadline;
      }
    }
    return { admitted: true, lease: new MemoryLease(nodes, estimate.tokens, estimate.costNanos), deadline, violation };
  }

  charge(lease: MemoryLease, usage: LedgerUsage): ChargeResult {
    const fromHeldTokens = lease.settled ? 0 : Math.min(lease.heldTokens, usage.tokens);
    const fromHeldCost = lease.settled ? 0 : Math.min(lease.heldCostNanos, usage.costNanos);
    lease.heldTokens -= fromHeldTokens;
    lease.heldCostNanos -= fromHeldCost;
    const beyondReservation = usage.tokens > fromHeldTokens || usage.costNanos > fromHeldCost;
    let violation: LedgerViolation | undefined;
    for (const node of lease.nodes) {
      node.reservedTokens -= fromHeldTokens;
      node.reservedCostNanos -= fromHeldCost;
      node.usedTokens += usage.tokens;
      node.usedCostNanos += usage.costNanos;
      if (beyondReservation) violation ??= findOvershoot(node, usage);
    }
    return violation;
  }

  settle(lease: MemoryLease): void {
    this.#release(lease, true);
  }

  cancel(lease: MemoryLease): void {
    this.#release(lease, false);
  }

  /** Gives back what the lease holds and its slot; its execution becomes used unless cancelled. */
  #release(lease: MemoryLease, countExecution: boolean): void {
    if (lease.settled) return;
    lease.settled = true;
    for (const node of lease.nodes) {
      node.reservedTokens -= lease.heldTokens;
      node.reservedCostNanos -= lease.heldCostNanos;
      node.reservedExecutions -= 1;
      if (countExecution) node.usedExecutions += 1;
      node.inFlight -= 1;
      // A budget whose runs all ended is forgotten by key; a late child of it (which passes the same node) still counts against it.
      if (node.ephemeral && node.inFlight === 0) this.#unlist(node);
    }
    lease.heldTokens = 0;
    lease.heldCostNanos = 0;
  }

  read(key: string): LedgerState | undefined {
    return this.#nodes.get(key);
  }

  scopes(): Iterable<string> {
    return this.#scopes;
  }

  #list(node: MemoryNode): void {
    node.listed = true;
    this.#nodes.set(node.key, node);
    if (!node.ephemeral) this.#scopes.add(node.key);
  }

  #unlist(node: MemoryNode): void {
    node.listed = false;
    if (this.#nodes.get(node.key) === node) this.#nodes.delete(node.key);
  }
}

/** The first limit of one node that a reservation of `estimate` would not fit in. */
function findViolation(state: MemoryNode, estimate: LedgerUsage, now: number): LedgerViolation | undefined {
  const { key, limits } = state;
  if (limits.wallTimeMs !== undefined && state.startedAt !== undefined && now - state.startedAt >= limits.wallTimeMs) {
    return { resource: 'wallTimeMs', key, limit: limits.wallTimeMs, used: now - state.startedAt, requested: 0 };
  }
  if (limits.executions !== undefined) {
    const held = state.usedExecutions + state.reservedExecutions;
    if (held + 1 > limits.executions) return { resource: 'executions', key, limit: limits.executions, used: held, requested: 1 };
  }
  if (limits.concurrent !== undefined) {
    const held = state.inFlight;
    if (held + 1 > limits.concurrent) return { resource: 'concurrent', key, limit: limits.concurrent, used: held, requested: 1 };
  }
  if (limits.tokens !== undefined) {
    const held = state.usedTokens + state.reservedTokens;
    if (held >= limits.tokens || held + estimate.tokens > limits.tokens) {
      return { resource: 'tokens', key, limit: limits.tokens, used: held, requested: estimate.tokens };
    }
  }
  if (limits.costNanos !== undefined) {
    const held = state.usedCostNanos + state.reservedCostNanos;
    if (held >= limits.costNanos || held + estimate.costNanos > limits.costNanos) {
      return { resource: 'costUsd', key, limit: limits.costNanos, used: held, requested: estimate.costNanos };
    }
  }
  return undefined;
}

/** The token or cost limit of one node that a charge has pushed past, if any. */
function findOvershoot(state: MemoryNode, usage: LedgerUsage): LedgerViolation | undefined {
  const { key, limits } = state;
  const tokens = state.usedTokens + state.reservedTokens;
  if (limits.tokens !== undefined && tokens > limits.tokens) {
    return { resource: 'tokens', key, limit: limits.tokens, used: tokens - usage.tokens, requested: usage.tokens };
  }
  const costNanos = state.usedCostNanos + state.reservedCostNanos;
  if (limits.costNanos !== undefined && costNanos > limits.costNanos) {
    return { resource: 'costUsd', key, limit: limits.costNanos, used: costNanos - usage.costNanos, requested: usage.costNanos };
  }
  return undefined;
}
