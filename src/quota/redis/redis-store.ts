import { createLogger } from '../../log.js';
import { QuotaStoreUnavailableError } from '../../errors.js';
import type { BudgetNode, ChargeResult, HoldResult, LedgerState, LedgerUsage, LedgerViolation, QuotaStore, ReserveRequest, ReserveResult } from '../store.js';
import { AdmissionQueue } from './admission-queue.js';
import { KeyLayout, leaseScriptKeys, type HierarchyKeys } from './keys.js';
import { LeaseKeeper, nextLeaseId, RedisLease, type PendingCharge } from './leases.js';
import { QuotaStoreOverloadedError } from './overloaded-error.js';
import { resolveRedisOptions, type RedisQuotaStoreOptions, type ResolvedRedisOptions } from './options.js';
import type { ChargeReply, NodeReply, ReplyViolation, ReserveReply } from './replies.js';
import { ScriptCalls, type ChargeCall, type ReserveCall } from './script-calls.js';
import { LocalView } from './view.js';

const log = createLogger('redis');

/**
 * How far Redis's clock may run ahead of this host's before a reservation that arrives in time is
 * refused as expired. It is also how long after its caller's deadline a reservation may still be
 * granted (and then given back at once).
 */
export const CLOCK_TOLERANCE_MS = 1_000;
/** Reservations one store has in flight to Redis at once; the rest wait in its admission queue. */
export const IN_FLIGHT_RESERVATIONS = 64;
/** Sends of one reservation that Redis may refuse as expired before the store counts Redis as unavailable. */
const EXPIRED_ATTEMPTS = 3;

/**
 * A `QuotaStore` shared by every replica that points at the same Redis and key prefix. Admission,
 * charge and settlement are one Lua script each (one round trip, atomic); reservations and
 * concurrency slots are leases that expire unless their process renews them.
 *
 * `read()` answers from a local view that every script reply updates and that a background sync
 * refreshes; `scopes()` lists the scopes this process has reserved in (not every scope in Redis).
 */
export class RedisQuotaStore implements QuotaStore<RedisLease> {
  readonly name = 'redis';
  readonly #options: ResolvedRedisOptions;
  readonly #calls: ScriptCalls;
  readonly #keys: KeyLayout;
  readonly #leases = new LeaseKeeper();
  readonly #view = new LocalView();
  readonly #admission: AdmissionQueue;
  #timer: NodeJS.Timeout | undefined;
  #syncing = false;
  #lastRefresh = 0;
  #closed = false;

  constructor(options: RedisQuotaStoreOptions) {
    this.#options = resolveRedisOptions(options);
    const { redis, timeoutMs, leaseTtlMs } = this.#options;
    // However busy the loop, a reply comes in while its lease still lives (renewals need the other half).
    this.#calls = new ScriptCalls(redis, { timeoutMs, maxWaitMs: leaseTtlMs / 2 });
    this.#keys = new KeyLayout(this.#options.keyPrefix);
    const { maxQueueDepth: maxDepth, maxQueueAgeMs: maxAgeMs } = this.#options;
    this.#admission = new AdmissionQueue(this.name, { maxInFlight: IN_FLIGHT_RESERVATIONS, maxDepth, maxAgeMs });
  }

  async reserve(request: ReserveRequest): Promise<ReserveResult<RedisLease>> {
    const { nodes, now } = request;
    const id = nextLeaseId();
    if (nodes.length === 0) {
      return { admitted: true, lease: new RedisLease(id, nodes, undefined, [], false, now), deadline: undefined, violation: undefined };
    }
    this.#startTimer();
    const hierarchy = this.#keys.hierarchy(nodes[0]!.key);
    const keys = leaseScriptKeys(hierarchy, id, nodes);
    const call = {
      keys,
      leaseId: id,
      nodes,
      leaseTtlMs: this.#options.leaseTtlMs,
      now: request.now,
      enforce: request.enforce,
      tokens: toLedgerInteger(request.estimate.tokens),
      costNanos: toLedgerInteger(request.estimate.costNanos),
    };

    let reply: ReserveReply;
    try {
      const onLate = (late: ReserveReply): void => this.#cancelLateReservation(new RedisLease(id, nodes, hierarchy, keys, false, now), late);
      reply = await this.#admission.run(() => this.#reserveInTime(call, onLate));
    } catch (error) {
      const overloaded = QuotaStoreOverloadedError.isInstance(error);
      if (this.#options.onUnavailable === 'deny') throw overloaded ? error : new QuotaStoreUnavailableError(this.name, error);
      log.warn(`quota store redis ${overloaded ? 'overloaded' : 'unavailable'}; run admitted unaccounted (onUnavailable: 'allow')`, error);
      const lease = new RedisLease(id, nodes, hierarchy, keys, true, now);
      return { admitted: true, lease, deadline: undefined, violation: undefined, unaccounted: true };
    }

    // A denied run leaves no budget of its own behind (nothing is in flight under it).
    const admitted = reply.status !== 'denied';
    this.#applyNodes(hierarchy, nodes, reply.nodes, admitted, true);
    const violation = toViolation(nodes, reply.violation);
    if (!admitted) return { admitted: false, violation: violation! };
    const lease = new RedisLease(id, nodes, hierarchy, keys, false, now);
    this.#leases.keep(lease);
    return { admitted: true, lease, deadline: earliestDeadline(nodes, reply.nodes), violation };
  }

  async charge(lease: RedisLease, usage: LedgerUsage, now = Date.now()): Promise<ChargeResult> {
    const { nodes, hierarchy } = lease;
    if (hierarchy === undefined) return undefined;
    const tokens = toLedgerInteger(usage.tokens);
    const costNanos = toLedgerInteger(usage.costNanos);
    if (tokens === 0 && costNanos === 0) return undefined;
    lease.sequence += 1;
    const { leaseTtlMs } = this.#options;
    const call = { keys: lease.keys, leaseId: lease.id, nodes, leaseTtlMs, tokens, costNanos, sequence: lease.sequence, admittedAt: lease.admittedAt, now };
    try {
      const reply = await this.#calls.charge(call, (late) => this.#chargeLanded(call, hierarchy, late));
      this.#applyNodes(hierarchy, nodes, reply.nodes, false, false);
      return reply.status === 'charged' ? toViolation(nodes, reply.violation) : undefined;
    } catch (error) {
      log.warn(
        `quota store redis: charging ${tokens} tokens and ${costNanos} nano-USD failed or timed out; resending it in the background (Redis applies it once)`,
        error,
      );
      this.#startTimer();
      this.#leases.chargeFailed(call, hierarchy, Date.now());
      return undefined;
    }
  }

  #chargeLanded(call: ChargeCall, hierarchy: HierarchyKeys, reply: ChargeReply): void {
    this.#leases.chargeLanded(call);
    this.#applyNodes(hierarchy, call.nodes, reply.nodes, false, false);
  }

  /** Resends a charge that failed, with its charge number: Redis applies it once, whichever send lands first. Never rejects. */
  async #resendCharge({ call, hierarchy }: PendingCharge): Promise<void> {
    try {
      this.#chargeLanded(call, hierarchy, await this.#calls.charge(call, (late) => this.#chargeLanded(call, hierarchy, late)));
    } catch (error) {
      log.warn('quota store redis: resending a charge failed; trying again in the background', error);
    }
  }

  /**
   * Holds a model call's worst case on the lease, in one round trip. When Redis cannot answer,
   * `onUnavailable: 'deny'` refuses the call (`QuotaStoreUnavailableError`) and `'allow'` lets it
   * go unheld (charged afterwards). A hold that lands after its caller gave up stays on the lease
   * until the run settles.
   */
  async hold(lease: RedisLease, amount: LedgerUsage, enforce: boolean, now = Date.now()): Promise<HoldResult> {
    const { nodes, hierarchy } = lease;
    const tokens = toLedgerInteger(amount.tokens);
    const costNanos = toLedgerInteger(amount.costNanos);
    if (hierarchy === undefined || lease.settled || lease.unaccounted) return { held: false, violation: undefined };
    const call = {
      keys: lease.keys,
      leaseId: lease.id,
      nodes,
      leaseTtlMs: this.#options.leaseTtlMs,
      tokens,
      costNanos,
      enforce,
      admittedAt: lease.admittedAt,
      now,
    };
    try {
      const reply = await this.#calls.hold(call);
      this.#applyNodes(hierarchy, nodes, reply.nodes, false, false);
      return { held: reply.status === 'held', violation: reply.status === 'noop' ? undefined : toViolation(nodes, reply.violation) };
    } catch (error) {
      if (this.#options.onUnavailable === 'deny') throw new QuotaStoreUnavailableError(this.name, error);
      log.warn("quota store redis: holding a model call's worst case failed; the call goes ahead unheld (onUnavailable: 'allow')", error);
      return { held: false, violation: undefined };
    }
  }

  /** Gives back up to `amount` of what the lease holds. Never rejects: a release that fails leaves the hold until the run settles. */
  async release(lease: RedisLease, amount: LedgerUsage, now = Date.now()): Promise<void> {
    const { nodes, hierarchy } = lease;
    const tokens = toLedgerInteger(amount.tokens);
    const costNanos = toLedgerInteger(amount.costNanos);
    if (hierarchy === undefined || lease.settled || lease.unaccounted || (tokens === 0 && costNanos === 0)) return;
    try {
      const reply = await this.#calls.release({
        keys: lease.keys,
        leaseId: lease.id,
        nodes,
        leaseTtlMs: this.#options.leaseTtlMs,
        tokens,
        costNanos,
        admittedAt: lease.admittedAt,
        now,
      });
      this.#applyNodes(hierarchy, nodes, reply.nodes, false, false);
    } catch (error) {
      log.warn("quota store redis: giving back the unused part of a model call's hold failed; it is held until the run settles", error);
    }
  }

  settle(lease: RedisLease, now = Date.now()): Promise<void> {
    return this.#finish(lease, 'settle', now);
  }

  /** Gives back everything the lease holds, its execution included: the run never started. */
  cancel(lease: RedisLease, now = Date.now()): Promise<void> {
    return this.#finish(lease, 'cancel', now);
  }

  async #finish(lease: RedisLease, mode: 'settle' | 'cancel', now: number): Promise<void> {
    if (lease.settled) return;
    lease.settled = true;
    if (lease.hierarchy === undefined || lease.unaccounted) return;
    this.#leases.release(lease);
    if (!(await this.#sendSettle(lease, mode, now))) this.#leases.settlementFailed(lease, mode, Date.now(), now);
  }

  read(key: string, now = Date.now()): LedgerState | undefined {
    return this.#view.read(key, now);
  }

  /** The quota no longer uses this scope: its entry leaves the local view (Redis keeps or expires its counts). */
  forget(node: BudgetNode): void {
    if (node.ephemeral) return;
    const hierarchy = this.#view.forget(node.key);
    if (hierarchy !== undefined && this.#view.nodesOf(hierarchy).length === 0 && !this.#leases.uses(hierarchy)) this.#keys.drop(hierarchy);
  }

  scopes(): Iterable<string> {
    return this.#view.scopes();
  }

  /** Stops the background sync. The Redis client is yours: quit it yourself. Idempotent. */
  close(): Promise<void> {
    this.#closed = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    return Promise.resolve();
  }

  /**
   * Sends a reservation that Redis refuses once its caller's deadline (plus `CLOCK_TOLERANCE_MS`)
   * has passed on Redis's clock. A refusal that reaches a caller still waiting (its loop was
   * blocked, so it waits longer: see `ScriptCalls`) is resent with a new deadline.
   */
  async #reserveInTime(call: Omit<ReserveCall, 'refuseAfter'>, onLate: (reply: ReserveReply) => void): Promise<ReserveReply> {
    for (let attempt = 1; ; attempt++) {
      const refuseAfter = Date.now() + this.#options.timeoutMs + CLOCK_TOLERANCE_MS;
      const reply = await this.#calls.reserve({ ...call, refuseAfter }, onLate);
      if (reply.status !== 'expired') return reply;
      if (attempt === EXPIRED_ATTEMPTS) {
        throw new Error(
          `Redis refused the reservation as past its deadline ${attempt} times in a row; is Redis's clock more than ${CLOCK_TOLERANCE_MS} ms ahead of this host's?`,
        );
      }
    }
  }

  /** A reservation that Redis applied after its caller gave up: give everything back, execution included. */
  #cancelLateReservation(lease: RedisLease, reply: ReserveReply): void {
    if (reply.status !== 'admitted' && reply.status !== 'duplicate') return;
    this.#applyNodes(lease.hierarchy!, lease.nodes, reply.nodes, true, false);
    lease.settled = true;
    const now = Date.now();
    // Background work: #sendSettle never rejects.
    void this.#sendSettle(lease, 'cancel', now).then((done) => {
      if (!done) this.#leases.settlementFailed(lease, 'cancel', Date.now(), now);
    });
  }

  /** Sends a settlement; resolves to whether Redis applied (or had already applied) it. Never rejects. */
  async #sendSettle(lease: RedisLease, mode: 'settle' | 'cancel', now: number): Promise<boolean> {
    const hierarchy = lease.hierarchy!;
    const { keys, id: leaseId, nodes, admittedAt } = lease;
    try {
      const reply = await this.#calls.settle({ keys, leaseId, nodes, leaseTtlMs: this.#options.leaseTtlMs, mode, admittedAt, now });
      this.#applyNodes(hierarchy, lease.nodes, reply.nodes, false, false);
      return true;
    } catch (error) {
      log.warn('quota store redis: settling a run failed; retrying in the background (its lease expires after leaseTtlMs)', error);
      return false;
    }
  }

  #startTimer(): void {
    if (this.#timer !== undefined || this.#closed) return;
    const { leaseTtlMs, refreshIntervalMs } = this.#options;
    const period = Math.max(1, Math.min(leaseTtlMs / 3, refreshIntervalMs > 0 ? refreshIntervalMs : Infinity));
    // Background work: #sync never rejects.
    this.#timer = setInterval(() => void this.#sync(), period);
    this.#timer.unref();
  }

  /** Renews live leases, retries failed settlements and refreshes the local view. Never rejects. */
  async #sync(): Promise<void> {
    if (this.#syncing || this.#closed) return;
    this.#syncing = true;
    try {
      const now = Date.now();
      const { refreshIntervalMs, leaseTtlMs } = this.#options;
      const refresh = refreshIntervalMs > 0 && now - this.#lastRefresh >= refreshIntervalMs;
      const work: Array<Promise<unknown>> = [];
      for (const hierarchy of this.#keys.hierarchies()) {
        if (refresh || this.#leases.hasLive(hierarchy)) work.push(this.#syncHierarchy(hierarchy));
      }
      for (const pending of this.#leases.chargeRetries(now, leaseTtlMs / 2)) work.push(this.#resendCharge(pending));
      for (const { lease, mode, settledAt } of this.#leases.retries(now, leaseTtlMs)) {
        work.push(this.#sendSettle(lease, mode, settledAt).then((done) => done && this.#leases.settlementLanded(lease)));
      }
      await Promise.allSettled(work);
      if (refresh) this.#lastRefresh = now;
    } catch (error) {
      log.error('quota store redis: background sync failed', error);
    } finally {
      this.#syncing = false;
    }
  }

  /** Renews this process's leases in one hierarchy and reads its nodes back. Never rejects. */
  async #syncHierarchy(hierarchy: HierarchyKeys): Promise<void> {
    const leases = this.#leases.live(hierarchy);
    const nodes = this.#view.nodesOf(hierarchy);
    const call = {
      leasesKey: hierarchy.leases,
      leaseIds: leases.map((lease) => lease.id),
      nodes,
      leaseTtlMs: this.#options.leaseTtlMs,
      now: Date.now(),
    };
    try {
      const reply = await this.#calls.sync(call);
      this.#leases.lost(leases, reply.missingLeases);
      for (let i = 0; i < nodes.length; i++) this.#view.apply(hierarchy, nodes[i]!, reply.nodes[i]!, false, false);
    } catch (error) {
      log.warn('quota store redis: renewing leases and refreshing quota state failed', error);
    }
  }

  /** Updates the local view from a reply; `create`: a reservation, which adds nodes the view does not know yet. */
  #applyNodes(hierarchy: HierarchyKeys, nodes: readonly BudgetNode[], replies: readonly NodeReply[], keepMissing: boolean, create: boolean): void {
    for (let i = 0; i < nodes.length; i++) this.#view.apply(hierarchy, nodes[i]!, replies[i]!, keepMissing, create);
  }
}

/** A script's violation, naming the node by key. */
function toViolation(nodes: readonly BudgetNode[], violation: ReplyViolation | undefined): LedgerViolation | undefined {
  if (violation === undefined) return undefined;
  const { resource, nodeIndex, windowIndex, limit, used, requested } = violation;
  const node = nodes[nodeIndex]!;
  if (windowIndex === undefined) return { resource, key: node.key, limit, used, requested };
  return { resource, key: node.key, window: node.limits.windows?.[windowIndex]?.label, limit, used, requested };
}

/** The earliest wall-time deadline over the nodes, from their start times as Redis has them. */
function earliestDeadline(nodes: readonly BudgetNode[], replies: readonly NodeReply[]): number | undefined {
  let deadline: number | undefined;
  for (let i = 0; i < nodes.length; i++) {
    const wallTimeMs = nodes[i]!.limits.wallTimeMs;
    const startedAt = replies[i]!.startedAt;
    if (wallTimeMs === undefined || startedAt === undefined) continue;
    if (deadline === undefined || startedAt + wallTimeMs < deadline) deadline = startedAt + wallTimeMs;
  }
  return deadline;
}

/** Redis counts in integers: tokens and nano-dollars are rounded, anything invalid counts as 0. */
function toLedgerInteger(value: number): number {
  if (!Number.isFinite(value) || value <= 0) return 0;
  return Number.isInteger(value) ? value : Math.round(value);
}
