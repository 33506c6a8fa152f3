import { createLogger } from '../../log.js';
import type { BudgetNode } from '../store.js';
import { PROCESS_ID, type HierarchyKeys } from './keys.js';
import type { ChargeCall } from './script-calls.js';

/**
 * Lease keeping for the Redis store: lease ids, the leases this process must keep renewing,
 * and the settlements that failed and are retried in the background.
 */

const log = createLogger('redis');

let leaseCounter = 0;

/** A process-unique lease id: the process's random id, then a counter. */
export function nextLeaseId(): string {
  return `${PROCESS_ID}.${(leaseCounter++).toString(36)}`;
}

/**
 * `RedisQuotaStore`'s handle on one admitted run. The store's own bookkeeping: pass it back to
 * the store, never change it.
 */
export class RedisLease {
  /** Charges sent so far; the lease ignores a charge number it has already applied. */
  sequence = 0;
  settled = false;
  constructor(
    readonly id: string,
    readonly nodes: readonly BudgetNode[],
    /** Undefined for a run under no budget at all (nothing to account). */
    readonly hierarchy: HierarchyKeys | undefined,
    /** KEYS of every script on this lease: leases, the lease, then the nodes. */
    readonly keys: readonly string[],
    /** Admitted without Redis (`onUnavailable: 'allow'`): usage is still charged when Redis answers. */
    readonly unaccounted: boolean,
    /** Epoch ms of the admission (the `now` of `reserve`): the lease counts in the window buckets that held it. */
    readonly admittedAt: number,
  ) {}
}

/** How a failed settlement is retried, and since when it has been failing. */
export interface PendingSettlement {
  readonly lease: RedisLease;
  readonly mode: 'settle' | 'cancel';
  readonly since: number;
  /** The `now` of the settlement as first asked: the windows it applies to are decided by it. */
  readonly settledAt: number;
}

/** A charge that failed or timed out, resent with the same charge number until it lands. */
export interface PendingCharge {
  readonly call: ChargeCall;
  readonly hierarchy: HierarchyKeys;
  readonly since: number;
}

export class LeaseKeeper {
  /** Leases of this process in flight, per hierarchy: renewed by the background sync. */
  readonly #live = new Map<HierarchyKeys, Set<RedisLease>>();
  /**
   * Settlements (and cancellations) that failed: retried until they land or the lease, no longer
   * renewed since the failure, has expired.
   */
  readonly #pending = new Map<RedisLease, PendingSettlement>();

  /** Charges that failed or timed out, by call: resent until one lands (the script applies each number once). */
  readonly #charges = new Map<ChargeCall, PendingCharge>();

  /** Renews `lease` from now on. */
  keep(lease: RedisLease): void {
    const hierarchy = lease.hierarchy!;
    let live = this.#live.get(hierarchy);
    if (live === undefined) {
      live = new Set();
      this.#live.set(hierarchy, live);
    }
    live.add(lease);
  }

  /** Stops renewing `lease` (it was settled). A hierarchy with no live lease left is dropped. */
  release(lease: RedisLease): void {
    const hierarchy = lease.hierarchy;
    if (hierarchy === undefined) return;
    const live = this.#live.get(hierarchy);
    if (live?.delete(lease) === true && live.size === 0) this.#live.delete(hierarchy);
  }

  /** Whether anything of this process still needs `hierarchy`: a live lease, a settlement or a charge to retry. */
  uses(hierarchy: HierarchyKeys): boolean {
    if (this.#live.has(hierarchy)) return true;
    for (const { lease } of this.#pending.values()) if (lease.hierarchy === hierarchy) return true;
    for (const pending of this.#charges.values()) if (pending.hierarchy === hierarchy) return true;
    return false;
  }

  /** The leases to renew in one hierarchy, as a snapshot. */
  live(hierarchy: HierarchyKeys): RedisLease[] {
    const live = this.#live.get(hierarchy);
    return live === undefined ? [] : [...live];
  }

  hasLive(hierarchy: HierarchyKeys): boolean {
    return (this.#live.get(hierarchy)?.size ?? 0) > 0;
  }

  /** Of `renewed`, the leases Redis did not have any more: their reservation expired while their run was in flight. */
  lost(renewed: readonly RedisLease[], missingIds: readonly string[]): void {
    if (missingIds.length === 0) return;
    const missing = new Set(missingIds);
    for (const lease of renewed) {
      if (!missing.has(lease.id) || lease.settled) continue;
      this.release(lease);
      log.warn(`quota store redis: lease ${lease.id} expired while its run was in flight; its reservation was released`);
    }
  }

  /** A settlement that did not land: retried from the background sync. */
  settlementFailed(lease: RedisLease, mode: PendingSettlement['mode'], now: number, settledAt: number): void {
    this.#pending.set(lease, { lease, mode, since: now, settledAt });
  }

  settlementLanded(lease: RedisLease): void {
    this.#pending.delete(lease);
  }

  chargeFailed(call: ChargeCall, hierarchy: HierarchyKeys, now: number): void {
    if (!this.#charges.has(call)) this.#charges.set(call, { call, hierarchy, since: now });
  }

  /** The charge reached Redis (its reply came, late or not). */
  chargeLanded(call: ChargeCall): void {
    this.#charges.delete(call);
  }

  /**
   * The failed charges to resend now. Those failing for longer than `maxAgeMs` are dropped (and
   * logged): by then a settled lease's tombstone, which stops a resent charge from counting twice,
   * may be gone.
   */
  chargeRetries(now: number, maxAgeMs: number): PendingCharge[] {
    const due: PendingCharge[] = [];
    for (const [call, pending] of this.#charges) {
      if (now - pending.since <= maxAgeMs) {
        due.push(pending);
        continue;
      }
      this.#charges.delete(call);
      log.warn(`quota store redis: gave up charging ${call.tokens} tokens and ${call.costNanos} nano-USD to lease ${call.leaseId}; that usage is missing`);
    }
    return due;
  }

  /**
   * The failed settlements to retry now. Those failing for longer than `leaseTtlMs` are dropped:
   * not renewed since the first failure, their lease has expired and the sweep has released it.
   */
  retries(now: number, leaseTtlMs: number): PendingSettlement[] {
    const due: PendingSettlement[] = [];
    for (const [lease, pending] of this.#pending) {
      if (now - pending.since > leaseTtlMs) this.#pending.delete(lease);
      else due.push(pending);
    }
    return due;
  }
}
