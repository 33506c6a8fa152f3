import type {
  BudgetNode,
  ChargeResult,
  HoldResult,
  LedgerAmounts,
  LedgerLimits,
  LedgerState,
  LedgerUsage,
  LedgerViolation,
  QuotaStore,
  ReserveRequest,
  ReserveResult,
  WindowState,
} from './store.js';
import type { BudgetWindow } from './windows.js';

/** What one bucket of a window holds, in ledger units. */
class Bucket {
  usedExecutions = 0;
  usedTokens = 0;
  usedCostNanos = 0;
  reservedExecutions = 0;
  reservedTokens = 0;
  reservedCostNanos = 0;
  constructor(public start: number) {}

  /** Empties the bucket for another start, in place. */
  reset(start: number): void {
    this.start = start;
    this.usedExecutions = this.usedTokens = this.usedCostNanos = 0;
    this.reservedExecutions = this.reservedTokens = this.reservedCostNanos = 0;
  }
}

/** One window of a node: a ring of buckets, each reused once its turn comes round again. */
class WindowCounter {
  readonly #slots: Array<Bucket | undefined>;

  constructor(readonly window: BudgetWindow) {
    this.#slots = new Array<Bucket | undefined>(window.buckets);
  }

  /**
   * Empties every bucket, for a node made over for another scope. A calendar window keeps its one
   * bucket; a rolling window's ring starts empty again, so that nodes made over many times do not
   * each end up with every slot of their ring filled.
   */
  clear(): void {
    if (this.#slots.length === 1) this.#slots[0]?.reset(-Infinity);
    else this.#slots.fill(undefined);
  }

  /** The bucket a reservation at `now` goes into, emptied first if it still holds an older turn's counts. */
  current(now: number): Bucket {
    const start = this.window.bucketStart(now);
    const slot = this.window.slot(start);
    const bucket = this.#slots[slot];
    if (bucket === undefined) return (this.#slots[slot] = new Bucket(start));
    if (bucket.start !== start) bucket.reset(start);
    return bucket;
  }

  /** The bucket of a run admitted at `admittedAt`, if it still counts at `now`. */
  live(admittedAt: number, now: number): Bucket | undefined {
    const start = this.window.bucketStart(admittedAt);
    const bucket = this.#slots[this.window.slot(start)];
    return bucket?.start === start && start >= this.window.oldestLiveStart(now) ? bucket : undefined;
  }

  /** Every live bucket summed, into `into`. */
  total(now: number, into: Bucket): Bucket {
    into.reset(0);
    const oldest = this.window.oldestLiveStart(now);
    // A calendar window's one bucket is its total.
    if (this.#slots.length === 1) {
      const bucket = this.#slots[0];
      return bucket === undefined || bucket.start < oldest ? into : bucket;
    }
    for (const bucket of this.#slots) {
      if (bucket === undefined || bucket.start < oldest) continue;
      into.usedExecutions += bucket.usedExecutions;
      into.usedTokens += bucket.usedTokens;
      into.usedCostNanos += bucket.usedCostNanos;
      into.reservedExecutions += bucket.reservedExecutions;
      into.reservedTokens += bucket.reservedTokens;
      into.reservedCostNanos += bucket.reservedCostNanos;
    }
    return into;
  }

  state(now: number): WindowState {
    const total = this.total(now, new Bucket(0));
    return {
      window: this.window,
      used: { executions: total.usedExecutions, tokens: total.usedTokens, costNanos: total.usedCostNanos, concurrent: 0 },
      reserved: { executions: total.reservedExecutions, tokens: total.reservedTokens, costNanos: total.reservedCostNanos, concurrent: 0 },
    };
  }
}

/** Scratch space for window totals: admission is synchronous, so one is enough. */
const scratch = new Bucket(0);

/**
 * A budget node that carries its own counts, as flat fields: admission touches one object per
 * node and looks nothing up, which keeps it constant-time with many thousands of scopes. Made
 * by `MemoryQuotaStore.createNode`; the quota passes it back on every reservation. A forgotten
 * scope's node is made over for the next new scope (`generation` tells them apart), so that a
 * service with a new scope per conversation does not make and collect one per conversation.
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
  /** Quotas holding this scope node (`createNode` minus `forget`). */
  holders = 0;
  /** How many scopes this node was made over for: a lease's late charge skips a node whose generation moved on. */
  generation = 0;
  /** Forgotten, and waiting in the store's spares to be made over. */
  spare = false;
  /** One per entry of `limits.windows`; undefined without windows. */
  counters: WindowCounter[] | undefined;

  constructor(
    readonly owner: MemoryQuotaStore,
    public key: string,
    public limits: LedgerLimits,
    readonly ephemeral: boolean,
  ) {
    this.counters = limits.windows?.map((window) => new WindowCounter(window));
  }

  /** Makes a forgotten scope's node over for another scope, from nothing. */
  remake(key: string, limits: LedgerLimits): void {
    this.generation += 1;
    this.spare = false;
    this.holders = 0;
    this.key = key;
    this.usedExecutions = this.usedTokens = this.usedCostNanos = 0;
    this.reservedExecutions = this.reservedTokens = this.reservedCostNanos = 0;
    this.startedAt = undefined;
    if (limits.windows === this.limits.windows) for (const counter of this.counters ?? []) counter.clear();
    else this.counters = limits.windows?.map((window) => new WindowCounter(window));
    this.limits = limits;
  }

  /** What counts in each window at `now`, for `read`. */
  windowStates(now: number): WindowState[] | undefined {
    return this.counters?.map((counter) => counter.state(now));
  }

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
  /** Each node's generation at admission: once settled, a node made over since is another scope's. */
  readonly generations: number[];
  constructor(
    readonly nodes: readonly MemoryNode[],
    public heldTokens: number,
    public heldCostNanos: number,
    /** Epoch ms of the admission: the lease counts in the buckets that held this time. */
    readonly admittedAt: number,
  ) {
    this.generations = nodes.map((node) => node.generation);
  }
}

/** Forgotten scope nodes kept to be made over: enough for the scopes of a busy hour, about 2 MB at most. */
const SPARE_NODES = 4_096;

/**
 * The default store: one process, exact. Check and reserve are one synchronous step, so no
 * other run can interleave between them.
 */
export class MemoryQuotaStore implements QuotaStore<MemoryLease, MemoryNode> {
  readonly name = 'memory';
  /** Every scope node made, by key, so that every quota on this store shares one per scope; `read` and `scopes` see those listed (reserved in at least once). */
  readonly #scopeNodes = new Map<string, MemoryNode>();
  /** Run budgets with something in flight under them, by key. */
  readonly #budgets = new Map<string, MemoryNode>();
  /**
   * Forgotten scope nodes, made over for new scopes: a scope per conversation lives for its hour,
   * long enough for the garbage collector to move every object made for it to the old generation,
   * which cost more than the rest of the run together (bench/budgets.mjs).
   */
  readonly #spare: MemoryNode[] = [];

  /** A scope's node is one per key; a run budget's is new each time. */
  createNode(node: BudgetNode): MemoryNode {
    if (node.ephemeral) return new MemoryNode(this, node.key, node.limits, true);
    let scope = this.#scopeNodes.get(node.key);
    if (scope === undefined) {
      scope = this.#spare.pop();
      if (scope === undefined) scope = new MemoryNode(this, node.key, node.limits, false);
      else scope.remake(node.key, node.limits);
      this.#scopeNodes.set(node.key, scope);
    }
    scope.holders += 1;
    return scope;
  }

  /**
   * A quota let go of a scope node: once no quota holds it and nothing is in flight under it, it
   * is dropped. Its object may then be made over for another scope, so whoever forgot it must not
   * pass it again (the quota never does): `createNode` gives the scope's node.
   */
  forget(node: MemoryNode): void {
    // A node forgotten before (a spare, or made over for another scope since) is not this scope's any more.
    if (node.owner !== this || node.ephemeral || node.spare || this.#scopeNodes.get(node.key) !== node) return;
    node.holders -= 1;
    if (node.holders > 0 || node.inFlight > 0) return;
    node.listed = false;
    this.#scopeNodes.delete(node.key);
    if (this.#spare.length < SPARE_NODES) {
      node.spare = true;
      this.#spare.push(node);
    }
  }

  reserve(request: ReserveRequest<MemoryNode>): ReserveResult<MemoryLease> {
    const { nodes, estimate, now } = request;
    let violation: LedgerViolation | undefined;
    for (const node of nodes) {
      if (node.owner !== this) throw new TypeError(`MemoryQuotaStore: node '${node.key}' was not made by this store's createNode()`);
      if (!node.listed) this.#list(node);
      violation ??= findViolation(node, estimate, now) ?? findWindowViolation(node, estimate, now);
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
      if (node.counters !== undefined) {
        for (const counter of node.counters) {
          const bucket = counter.current(now);
          bucket.reservedExecutions += 1;
          bucket.reservedTokens += estimate.tokens;
          bucket.reservedCostNanos += estimate.costNanos;
        }
      }
      const wallTimeMs = node.limits.wallTimeMs;
      if (wallTimeMs !== undefined) {
        const nodeDeadline = node.startedAt + wallTimeMs;
        if (deadline === undefined || nodeDeadline < deadline) deadline = nodeDeadline;
      }
    }
    return { admitted: true, lease: new MemoryLease(nodes, estimate.tokens, estimate.costNanos, now), deadline, violation };
  }

  charge(lease: MemoryLease, usage: LedgerUsage, now = Date.now()): ChargeResult {
    const fromHeldTokens = lease.settled ? 0 : Math.min(lease.heldTokens, usage.tokens);
    const fromHeldCost = lease.settled ? 0 : Math.min(lease.heldCostNanos, usage.costNanos);
    lease.heldTokens -= fromHeldTokens;
    lease.heldCostNanos -= fromHeldCost;
    const beyondReservation = usage.tokens > fromHeldTokens || usage.costNanos > fromHeldCost;
    let violation: LedgerViolation | undefined;
    for (let index = 0; index < lease.nodes.length; index++) {
      const node = lease.nodes[index]!;
      // Late usage of a scope forgotten since counts nowhere: its node is another scope's now.
      if (lease.settled && node.generation !== lease.generations[index]) continue;
      node.reservedTokens -= fromHeldTokens;
      node.reservedCostNanos -= fromHeldCost;
      node.usedTokens += usage.tokens;
      node.usedCostNanos += usage.costNanos;
      if (beyondReservation) violation ??= findOvershoot(node, usage);
      if (node.counters === undefined) continue;
      for (const counter of node.counters) {
        const bucket = counter.live(lease.admittedAt, now);
        if (bucket === undefined) continue;
        bucket.reservedTokens -= fromHeldTokens;
        bucket.reservedCostNanos -= fromHeldCost;
        bucket.usedTokens += usage.tokens;
        bucket.usedCostNanos += usage.costNanos;
        if (beyondReservation) violation ??= findWindowOvershoot(node.key, counter, usage, now);
      }
    }
    return violation;
  }

  hold(lease: MemoryLease, amount: LedgerUsage, enforce: boolean, now = Date.now()): HoldResult {
    if (lease.settled) return { held: false, violation: undefined };
    let violation: LedgerViolation | undefined;
    for (const node of lease.nodes) {
      violation ??= findHoldViolation(node, amount, lease.admittedAt, now);
      if (violation !== undefined) break;
    }
    if (violation !== undefined && enforce) return { held: false, violation };
    lease.heldTokens += amount.tokens;
    lease.heldCostNanos += amount.costNanos;
    for (const node of lease.nodes) {
      node.reservedTokens += amount.tokens;
      node.reservedCostNanos += amount.costNanos;
      if (node.counters === undefined) continue;
      for (const counter of node.counters) {
        const bucket = counter.live(lease.admittedAt, now);
        if (bucket === undefined) continue;
        bucket.reservedTokens += amount.tokens;
        bucket.reservedCostNanos += amount.costNanos;
      }
    }
    return { held: true, violation };
  }

  release(lease: MemoryLease, amount: LedgerUsage, now = Date.now()): void {
    if (lease.settled) return;
    const tokens = Math.min(lease.heldTokens, amount.tokens);
    const costNanos = Math.min(lease.heldCostNanos, amount.costNanos);
    lease.heldTokens -= tokens;
    lease.heldCostNanos -= costNanos;
    for (const node of lease.nodes) {
      node.reservedTokens -= tokens;
      node.reservedCostNanos -= costNanos;
      if (node.counters === undefined) continue;
      for (const counter of node.counters) {
        const bucket = counter.live(lease.admittedAt, now);
        if (bucket === undefined) continue;
        bucket.reservedTokens -= tokens;
        bucket.reservedCostNanos -= costNanos;
      }
    }
  }

  settle(lease: MemoryLease, now = Date.now()): void {
    this.#release(lease, true, now);
  }

  cancel(lease: MemoryLease, now = Date.now()): void {
    this.#release(lease, false, now);
  }

  /** Gives back what the lease holds and its slot; its execution becomes used unless cancelled. */
  #release(lease: MemoryLease, countExecution: boolean, now: number): void {
    if (lease.settled) return;
    lease.settled = true;
    for (const node of lease.nodes) {
      node.reservedTokens -= lease.heldTokens;
      node.reservedCostNanos -= lease.heldCostNanos;
      node.reservedExecutions -= 1;
      if (countExecution) node.usedExecutions += 1;
      node.inFlight -= 1;
      if (node.counters !== undefined) {
        for (const counter of node.counters) {
          const bucket = counter.live(lease.admittedAt, now);
          if (bucket === undefined) continue;
          bucket.reservedTokens -= lease.heldTokens;
          bucket.reservedCostNanos -= lease.heldCostNanos;
          bucket.reservedExecutions -= 1;
          if (countExecution) bucket.usedExecutions += 1;
        }
      }
      // A budget whose runs all ended is forgotten by key; a late child of it (which passes the same node) still counts against it.
      if (node.ephemeral && node.inFlight === 0) this.#unlist(node);
    }
    lease.heldTokens = 0;
    lease.heldCostNanos = 0;
  }

  read(key: string, now = Date.now()): LedgerState | undefined {
    const scope = this.#scopeNodes.get(key);
    const node = scope?.listed === true ? scope : this.#budgets.get(key);
    if (node === undefined) return undefined;
    // A copy: the node itself may be made over for another scope once forgotten.
    return { used: node.used, reserved: node.reserved, startedAt: node.startedAt, limits: node.limits, windows: node.windowStates(now) };
  }

  *scopes(): Iterable<string> {
    for (const [key, node] of this.#scopeNodes) if (node.listed) yield key;
  }

  #list(node: MemoryNode): void {
    node.listed = true;
    if (node.ephemeral) {
      this.#budgets.set(node.key, node);
      return;
    }
    // A scope node passed again after it was forgotten is the scope's node again, and no spare.
    if (!this.#scopeNodes.has(node.key)) this.#scopeNodes.set(node.key, node);
    if (node.spare) {
      node.spare = false;
      this.#spare.splice(this.#spare.indexOf(node), 1);
    }
  }

  #unlist(node: MemoryNode): void {
    node.listed = false;
    if (this.#budgets.get(node.key) === node) this.#budgets.delete(node.key);
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

/** The first window limit of one node that a reservation of `estimate` at `now` would not fit in. */
function findWindowViolation(node: MemoryNode, estimate: LedgerUsage, now: number): LedgerViolation | undefined {
  if (node.counters === undefined) return undefined;
  for (const counter of node.counters) {
    const { limits, label } = counter.window;
    const total = counter.total(now, scratch);
    const key = node.key;
    if (limits.executions !== undefined) {
      const held = total.usedExecutions + total.reservedExecutions;
      if (held + 1 > limits.executions) return { resource: 'executions', key, window: label, limit: limits.executions, used: held, requested: 1 };
    }
    if (limits.tokens !== undefined) {
      const held = total.usedTokens + total.reservedTokens;
      if (held >= limits.tokens || held + estimate.tokens > limits.tokens) {
        return { resource: 'tokens', key, window: label, limit: limits.tokens, used: held, requested: estimate.tokens };
      }
    }
    if (limits.costNanos !== undefined) {
      const held = total.usedCostNanos + total.reservedCostNanos;
      if (held >= limits.costNanos || held + estimate.costNanos > limits.costNanos) {
        return { resource: 'costUsd', key, window: label, limit: limits.costNanos, used: held, requested: estimate.costNanos };
      }
    }
  }
  return undefined;
}

/** The token or cost limit of one window that a charge has pushed past, if any. */
function findWindowOvershoot(key: string, counter: WindowCounter, usage: LedgerUsage, now: number): LedgerViolation | undefined {
  const { limits, label } = counter.window;
  const total = counter.total(now, scratch);
  const tokens = total.usedTokens + total.reservedTokens;
  if (limits.tokens !== undefined && tokens > limits.tokens) {
    return { resource: 'tokens', key, window: label, limit: limits.tokens, used: tokens - usage.tokens, requested: usage.tokens };
  }
  const costNanos = total.usedCostNanos + total.reservedCostNanos;
  if (limits.costNanos !== undefined && costNanos > limits.costNanos) {
    return { resource: 'costUsd', key, window: label, limit: limits.costNanos, used: costNanos - usage.costNanos, requested: usage.costNanos };
  }
  return undefined;
}

/** The first token or cost limit of one node that holding `amount` more would pass: lifetime, then the lease's live window buckets. */
function findHoldViolation(node: MemoryNode, amount: LedgerUsage, admittedAt: number, now: number): LedgerViolation | undefined {
  const { key, limits } = node;
  const tokens = node.usedTokens + node.reservedTokens;
  if (limits.tokens !== undefined && tokens + amount.tokens > limits.tokens) {
    return { resource: 'tokens', key, limit: limits.tokens, used: tokens, requested: amount.tokens };
  }
  const costNanos = node.usedCostNanos + node.reservedCostNanos;
  if (limits.costNanos !== undefined && costNanos + amount.costNanos > limits.costNanos) {
    return { resource: 'costUsd', key, limit: limits.costNanos, used: costNanos, requested: amount.costNanos };
  }
  if (node.counters === undefined) return undefined;
  for (const counter of node.counters) {
    // A window whose admission bucket has closed no longer counts this run.
    if (counter.live(admittedAt, now) === undefined) continue;
    const { limits: windowLimits, label } = counter.window;
    const total = counter.total(now, scratch);
    const heldTokens = total.usedTokens + total.reservedTokens;
    if (windowLimits.tokens !== undefined && heldTokens + amount.tokens > windowLimits.tokens) {
      return { resource: 'tokens', key, window: label, limit: windowLimits.tokens, used: heldTokens, requested: amount.tokens };
    }
    const heldCost = total.usedCostNanos + total.reservedCostNanos;
    if (windowLimits.costNanos !== undefined && heldCost + amount.costNanos > windowLimits.costNanos) {
      return { resource: 'costUsd', key, window: label, limit: windowLimits.costNanos, used: heldCost, requested: amount.costNanos };
    }
  }
  return undefined;
}
