import type {
  BudgetNode,
  ChargeResult,
  LedgerAmounts,
  LedgerLimits,
  LedgerState,
  LedgerUsage,
  LedgerViolation,
  QuotaLease,
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

  constructor(
    readonly owner: MemoryQuotaStore,
    readonly limits: LedgerLimits,
  ) {}

  get used(): LedgerAmounts {
    return { executions: this.usedExecutions, tokens: this.usedTokens, costMicros: this.usedCostMicros, concurrent: 0 };
  }

  get reserved(): LedgerAmounts {
    return { executions: this.reservedExecutions, tokens: this.reservedTokens, costMicros: this.reservedCostMicros, concurrent: this.inFlight };
  }
}

class MemoryLease implements QuotaLease {
  settled = false;
  constructor(
    readonly nodes: readonly BudgetNode[],
    readonly states: NodeState[],
    public heldTokens: number,
    public heldCostMicros: number,
  ) {}
}

/**
 * The default store: one process, exact. Check and reserve are one synchronous step, so no
 * other run can interleave between them.
 */
export class MemoryQuotaStore implements QuotaStore {
  readonly name = 'memory';
  readonly #nodes = new Map<string, NodeState>();
  readonly #scopes = new Set<string>();

  reserve(request: ReserveRequest): ReserveResult {
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
        if (nodes[i]!.ephemeral && states[i]!.inFlight === 0) this.#nodes.delete(nodes[i]!.key);
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

  charge(lease: QuotaLease, usage: LedgerUsage): ChargeResult {
    const memoryLease = lease as MemoryLease;
    const fromHeldTokens = memoryLease.settled ? 0 : Math.min(memoryLease.heldTokens, usage.tokens);
    const fromHeldCost = memoryLease.settled ? 0 : Math.min(memoryLease.heldCostMicros, usage.costMicros);
    memoryLease.heldTokens -= fromHeldTokens;
    memoryLease.heldCostMicros -= fromHeldCost;
    const beyondReservation = usage.tokens > fromHeldTokens || usage.costMicros > fromHeldCost;
    let violation: LedgerViolation | undefined;
    for (let i = 0; i < memoryLease.states.length; i++) {
      const state = memoryLease.states[i]!;
      state.reservedTokens -= fromHeldTokens;
      state.reservedCostMicros -= fromHeldCost;
      state.usedTokens += usage.tokens;
      state.usedCostMicros += usage.costMicros;
      if (beyondReservation) violation ??= findOvershoot(memoryLease.nodes[i]!.key, state, usage);
    }
    return violation;
  }

  settle(lease: QuotaLease): void {
    const memoryLease = lease as MemoryLease;
    if (memoryLease.settled) return;
    memoryLease.settled = true;
    for (let i = 0; i < memoryLease.states.length; i++) {
      const state = memoryLease.states[i]!;
      state.reservedTokens -= memoryLease.heldTokens;
      state.reservedCostMicros -= memoryLease.heldCostMicros;
      state.reservedExecutions -= 1;
      state.usedExecutions += 1;
      state.inFlight -= 1;
      const node = memoryLease.nodes[i]!;
      if (node.ephemeral && state.inFlight === 0) this.#nodes.delete(node.key);
    }
    memoryLease.heldTokens = 0;
    memoryLease.heldCostMicros = 0;
  }

  read(key: string): LedgerState | undefined {
    return this.#nodes.get(key);
  }

  scopes(): Iterable<string> {
    return this.#scopes;
  }

  #state(node: BudgetNode): NodeState {
    const handle = node.storeHandle as NodeState | undefined;
    if (handle?.owner === this) {
      // A budget whose runs all ended is forgotten by key, but a late child of it still counts against it.
      if (node.ephemeral && this.#nodes.get(node.key) !== handle) this.#nodes.set(node.key, handle);
      return handle;
    }
    let state = this.#nodes.get(node.key);
    if (state === undefined) {
      state = new NodeState(this, node.limits);
      this.#nodes.set(node.key, state);
      if (!node.ephemeral) this.#scopes.add(node.key);
    }
    node.storeHandle = state;
    return state;
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
