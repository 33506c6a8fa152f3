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
 * One node's counts, as flat fields: admission touches one object per node, which keeps it
 * constant-time in practice with many thousands of scopes.
 */
class NodeState implements LedgerState {
  usedExecutions = 0;
  usedTokens = 0;
  usedCostMicros = 0;
  reservedExecutions = 0;
  reservedTokens = 0;
  reservedCostMicros = 0;
  inFlight = 0;
  startedAt: number | undefined = undefined;

  constructor(readonly limits: LedgerLimits) {}

  get used(): LedgerAmounts {
    return { executions: this.usedExecutions, tokens: this.usedTokens, costMicros: this.usedCostMicros, concurrent: 0 };
  }

  get reserved(): LedgerAmounts {
    return { executions: this.reservedExecutions, tokens: this.reservedTokens, costMicros: this.reservedCostMicros, concurrent: this.inFlight };
  }
}

/**
 * `MemoryQuotaStore`'s handle on one admitted run: its nodes, their states and what it still
 * holds in reserve. The store's own bookkeeping: pass it back to the store, never change it.
 */
export class MemoryLease {
  settled = false;
  constructor(
    readonly nodes: readonly BudgetNode[],
    readonly states: readonly NodeState[],
    public heldTokens: number,
    public heldCostMicros: number,
  ) {}
}

/**
 * The default store: one process, exact. Check and reserve are one synchronous step, so no
 * other run can interleave between them.
 */
export class MemoryQuotaStore implements QuotaStore<MemoryLease> {
  readonly name = 'memory';
  /** Every node known by key: scopes for good, run budgets while something is in flight under them. */
  readonly #nodes = new Map<string, NodeState>();
  /**
   * Every node by node object, which the quota passes again for the same budget: one lookup for a
   * node seen before. A run budget forgotten by key is still found here by a late child of its run
   * (which passes the same node object), for as long as some run holds the node.
   */
  readonly #byNode = new WeakMap<BudgetNode, NodeState>();
  readonly #scopes = new Set<string>();

  reserve(request: ReserveRequest): ReserveResult<MemoryLease> {
    const { nodes, estimate, now } = request;
    const states: NodeState[] = new Array(nodes.length);
    let violation: LedgerViolation | undefined;
    for (let i = 0; i < nodes.length; i++) {
      const node = nodes[i]!;
      const state = this.#state(node);
      states[i] = state;
      violation ??= findViolation(node.key, state, estimate, now);
    }
    if (violation && request.enforce) {
      // A denied run's own budget node (or a budget no run is under any more) is not kept.
      for (let i = 0; i < nodes.length; i++) {
        if (nodes[i]!.ephemeral && states[i]!.inFlight === 0) this.#forget(nodes[i]!.key, states[i]!);
      }
      return { admitted: false, violation };
    }

    let deadline: number | undefined;
    for (const state of states) {
      state.startedAt ??= now;
      state.reservedExecutions += 1;
      state.inFlight += 1;
      state.reservedTokens += estimate.tokens;
      state.reservedCostMicros += estimate.costMicros;
      const wallTimeMs = state.limits.wallTimeMs;
      if (wallTimeMs !== undefined) {
        const nodeDeadline = state.startedAt + wallTimeMs;
        if (deadline === undefined || nodeDeadline < deadline) deadline = nodeDeadline;
      }
    }
    return {
      admitted: true,
      lease: new MemoryLease(nodes, states, estimate.tokens, estimate.costMicros),
      deadline,
      violation,
    };
  }

  charge(lease: MemoryLease, usage: LedgerUsage): ChargeResult {
    const fromHeldTokens = lease.settled ? 0 : Math.min(lease.heldTokens, usage.tokens);
    const fromHeldCost = lease.settled ? 0 : Math.min(lease.heldCostMicros, usage.costMicros);
    lease.heldTokens -= fromHeldTokens;
    lease.heldCostMicros -= fromHeldCost;
    const beyondReservation = usage.tokens > fromHeldTokens || usage.costMicros > fromHeldCost;
    let violation: LedgerViolation | undefined;
    for (let i = 0; i < lease.states.length; i++) {
      const state = lease.states[i]!;
      state.reservedTokens -= fromHeldTokens;
      state.reservedCostMicros -= fromHeldCost;
      state.usedTokens += usage.tokens;
      state.usedCostMicros += usage.costMicros;
      if (beyondReservation) violation ??= findOvershoot(lease.nodes[i]!.key, state, usage);
    }
    return violation;
  }

  settle(lease: MemoryLease): void {
    if (lease.settled) return;
    lease.settled = true;
    for (let i = 0; i < lease.states.length; i++) {
      const state = lease.states[i]!;
      state.reservedTokens -= lease.heldTokens;
      state.reservedCostMicros -= lease.heldCostMicros;
      state.reservedExecutions -= 1;
      state.usedExecutions += 1;
      state.inFlight -= 1;
      const node = lease.nodes[i]!;
      if (node.ephemeral && state.inFlight === 0) this.#forget(node.key, state);
    }
    lease.heldTokens = 0;
    lease.heldCostMicros = 0;
  }

  read(key: string): LedgerState | undefined {
    return this.#nodes.get(key);
  }

  scopes(): Iterable<string> {
    return this.#scopes;
  }

  /** A node's state: by node object (one lookup for a node seen before), else by key, else new. */
  #state(node: BudgetNode): NodeState {
    let state = this.#byNode.get(node);
    if (state !== undefined) {
      // A budget whose runs all ended is forgotten by key, but a late child of it still counts against it.
      if (node.ephemeral && this.#nodes.get(node.key) !== state) this.#nodes.set(node.key, state);
      return state;
    }
    state = this.#nodes.get(node.key);
    if (state === undefined) {
      state = new NodeState(node.limits);
      this.#nodes.set(node.key, state);
      if (!node.ephemeral) this.#scopes.add(node.key);
    }
    this.#byNode.set(node, state);
    return state;
  }

  /** Drops a run budget's key (its node object may still bring it back). */
  #forget(key: string, state: NodeState): void {
    if (this.#nodes.get(key) === state) this.#nodes.delete(key);
  }
}

/** The first limit of one node that a reservation of `estimate` would not fit in. */
function findViolation(key: string, state: NodeState, estimate: LedgerUsage, now: number): LedgerViolation | undefined {
  const limits = state.limits;
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
  if (limits.costMicros !== undefined) {
    const held = state.usedCostMicros + state.reservedCostMicros;
    if (held >= limits.costMicros || held + estimate.costMicros > limits.costMicros) {
      return { resource: 'costUsd', key, limit: limits.costMicros, used: held, requested: estimate.costMicros };
    }
  }
  return undefined;
}

/** The token or cost limit of one node that a charge has pushed past, if any. */
function findOvershoot(key: string, state: NodeState, usage: LedgerUsage): LedgerViolation | undefined {
  const limits = state.limits;
  const tokens = state.usedTokens + state.reservedTokens;
  if (limits.tokens !== undefined && tokens > limits.tokens) {
    return { resource: 'tokens', key, limit: limits.tokens, used: tokens - usage.tokens, requested: usage.tokens };
  }
  const costMicros = state.usedCostMicros + state.reservedCostMicros;
  if (limits.costMicros !== undefined && costMicros > limits.costMicros) {
    return { resource: 'costUsd', key, limit: limits.costMicros, used: costMicros - usage.costMicros, requested: usage.costMicros };
  }
  return undefined;
}
