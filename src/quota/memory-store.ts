import {
  emptyAmounts,
  type BudgetNode,
  type ChargeResult,
  type LedgerAmounts,
  type LedgerLimits,
  type LedgerState,
  type LedgerUsage,
  type LedgerViolation,
  type QuotaLease,
  type QuotaStore,
  type ReserveRequest,
  type ReserveResult,
} from './store.js';

interface NodeState extends LedgerState {
  used: LedgerAmounts;
  reserved: LedgerAmounts;
  startedAt: number | undefined;
  limits: LedgerLimits;
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
    if (violation && request.enforce) return { admitted: false, violation };

    let deadline: number | undefined;
    for (const state of states) {
      state.startedAt ??= now;
      state.reserved.executions += 1;
      state.reserved.concurrent += 1;
      state.reserved.tokens += estimate.tokens;
      state.reserved.costMicros += estimate.costMicros;
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
      state.reserved.tokens -= fromHeldTokens;
      state.reserved.costMicros -= fromHeldCost;
      state.used.tokens += usage.tokens;
      state.used.costMicros += usage.costMicros;
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
      state.reserved.tokens -= memoryLease.heldTokens;
      state.reserved.costMicros -= memoryLease.heldCostMicros;
      state.reserved.executions -= 1;
      state.used.executions += 1;
      state.reserved.concurrent -= 1;
      const node = memoryLease.nodes[i]!;
      if (node.ephemeral && state.reserved.concurrent === 0) this.#nodes.delete(node.key);
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
    let state = this.#nodes.get(node.key);
    if (state === undefined) {
      state = { used: emptyAmounts(), reserved: emptyAmounts(), startedAt: undefined, limits: node.limits };
      this.#nodes.set(node.key, state);
      if (!node.ephemeral) this.#scopes.add(node.key);
    }
    return state;
  }
}

/** The first limit of one node that a reservation of `estimate` would not fit in. */
export function findViolation(
  key: string,
  state: LedgerState,
  estimate: LedgerUsage,
  now: number,
): LedgerViolation | undefined {
  const { limits, used, reserved } = state;
  if (limits.wallTimeMs !== undefined && state.startedAt !== undefined && now - state.startedAt >= limits.wallTimeMs) {
    return { resource: 'wallTimeMs', key, limit: limits.wallTimeMs, used: now - state.startedAt, requested: 0 };
  }
  if (limits.executions !== undefined) {
    const held = used.executions + reserved.executions;
    if (held + 1 > limits.executions) return { resource: 'executions', key, limit: limits.executions, used: held, requested: 1 };
  }
  if (limits.concurrent !== undefined) {
    const held = reserved.concurrent;
    if (held + 1 > limits.concurrent) return { resource: 'concurrent', key, limit: limits.concurrent, used: held, requested: 1 };
  }
  if (limits.tokens !== undefined) {
    const held = used.tokens + reserved.tokens;
    if (held >= limits.tokens || held + estimate.tokens > limits.tokens) {
      return { resource: 'tokens', key, limit: limits.tokens, used: held, requested: estimate.tokens };
    }
  }
  if (limits.costMicros !== undefined) {
    const held = used.costMicros + reserved.costMicros;
    if (held >= limits.costMicros || held + estimate.costMicros > limits.costMicros) {
      return { resource: 'costUsd', key, limit: limits.costMicros, used: held, requested: estimate.costMicros };
    }
  }
  return undefined;
}

/** The token or cost limit of one node that a charge has pushed past, if any. */
export function findOvershoot(key: string, state: LedgerState, usage: LedgerUsage): LedgerViolation | undefined {
  const { limits, used, reserved } = state;
  if (limits.tokens !== undefined && used.tokens + reserved.tokens > limits.tokens) {
    return { resource: 'tokens', key, limit: limits.tokens, used: used.tokens + reserved.tokens - usage.tokens, requested: usage.tokens };
  }
  if (limits.costMicros !== undefined && used.costMicros + reserved.costMicros > limits.costMicros) {
    return {
      resource: 'costUsd',
      key,
      limit: limits.costMicros,
      used: used.costMicros + reserved.costMicros - usage.costMicros,
      requested: usage.costMicros,
    };
  }
  return undefined;
}
