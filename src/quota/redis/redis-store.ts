import { createHash, randomBytes } from 'node:crypto';
import { logger } from '../../log.js';
import { QuotaStoreUnavailableError } from '../../errors.js';
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
} from '../store.js';
import { resolveRedisOptions, type RedisQuotaStoreOptions, type ResolvedRedisOptions } from './options.js';
import { CHARGE_SCRIPT, RESERVE_SCRIPT, SETTLE_SCRIPT, SYNC_SCRIPT } from './scripts.js';

type Reply = Array<string | number>;
type ScriptCall = (...args: Array<string | number>) => Promise<Reply>;

/** Values per node in a script reply: exists, ue ut uc re rt rc rk s. */
const NODE_WIDTH = 9;
/** Header values of reserve and charge replies: status, resource, node index, limit, used, requested. */
const HEADER_WIDTH = 6;

/** ioredis command names, versioned by the script's hash so two package versions on one client never clash. */
const COMMANDS = {
  reserve: commandName('Reserve', RESERVE_SCRIPT),
  charge: commandName('Charge', CHARGE_SCRIPT),
  settle: commandName('Settle', SETTLE_SCRIPT),
  sync: commandName('Sync', SYNC_SCRIPT),
} as const;
const SCRIPTS: Record<keyof typeof COMMANDS, string> = {
  reserve: RESERVE_SCRIPT,
  charge: CHARGE_SCRIPT,
  settle: SETTLE_SCRIPT,
  sync: SYNC_SCRIPT,
};

/** Process-unique lease ids: a random prefix drawn once, then a counter. */
const LEASE_ID_PREFIX = randomBytes(9).toString('base64url');
let leaseCounter = 0;

interface MutableLedgerState extends LedgerState {
  used: LedgerAmounts;
  reserved: LedgerAmounts;
  startedAt: number | undefined;
  limits: LedgerLimits;
}

interface ViewEntry {
  readonly state: MutableLedgerState;
  readonly redisKey: string;
  readonly ephemeral: boolean;
}

/** The keys of one budget hierarchy (one hash tag) this process knows. */
interface TagEntry {
  readonly leasesKey: string;
  /** Node keys under this tag that the background sync reads. */
  readonly nodes: Set<string>;
  /** Leases of this process in flight under this tag, renewed by the background sync. */
  readonly live: Set<RedisLease>;
}

class RedisLease implements QuotaLease {
  /** Charges sent so far; the lease ignores a charge number it has already applied. */
  seq = 0;
  settled = false;
  constructor(
    readonly nodes: readonly BudgetNode[],
    readonly id: string,
    readonly tag: TagEntry | undefined,
    /** KEYS of every script on this lease: leases, lease, then the nodes. */
    readonly keys: readonly string[],
    /** Admitted without Redis (`onUnavailable: 'allow'`): usage is still charged when Redis answers. */
    readonly unaccounted: boolean,
  ) {}
}

class RedisTimeoutError extends Error {
  constructor(timeoutMs: number) {
    super(`Redis did not answer within ${timeoutMs} ms`);
    this.name = 'RedisTimeoutError';
  }
}

/**
 * A `QuotaStore` shared by every replica that points at the same Redis and key prefix. Admission,
 * charge and settlement are one Lua script each (one round trip, atomic); reservations and
 * concurrency slots are leases that expire unless their process renews them.
 *
 * `read()` answers from a local view that every script reply updates and that a background sync
 * refreshes; `scopes()` lists the scopes this process has reserved in (not every scope in Redis).
 */
export class RedisQuotaStore implements QuotaStore {
  readonly name = 'redis';
  readonly #options: ResolvedRedisOptions;
  readonly #calls: Record<keyof typeof COMMANDS, ScriptCall>;
  readonly #view = new Map<string, ViewEntry>();
  readonly #scopes = new Set<string>();
  readonly #tags = new Map<string, TagEntry>();
  /**
   * Settlements (and cancellations) that failed, with how and since when: retried by the
   * background sync until they land or the lease, no longer renewed since then, has expired.
   */
  readonly #pendingSettles = new Map<RedisLease, { mode: 'settle' | 'cancel'; since: number }>();
  #timer: NodeJS.Timeout | undefined;
  #syncing = false;
  #lastRefresh = 0;
  #closed = false;

  constructor(options: RedisQuotaStoreOptions) {
    this.#options = resolveRedisOptions(options);
    const client = this.#options.redis as unknown as Record<string, unknown> & {
      defineCommand(name: string, definition: { lua: string }): void;
    };
    for (const [role, name] of Object.entries(COMMANDS) as Array<[keyof typeof COMMANDS, string]>) {
      if (typeof client[name] !== 'function') client.defineCommand(name, { lua: SCRIPTS[role] });
    }
    const call = (name: string): ScriptCall => (...args) => (client[name] as ScriptCall).apply(client, args);
    this.#calls = { reserve: call(COMMANDS.reserve), charge: call(COMMANDS.charge), settle: call(COMMANDS.settle), sync: call(COMMANDS.sync) };
  }

  async reserve(request: ReserveRequest): Promise<ReserveResult> {
    const { nodes, now } = request;
    const tokens = toLedgerInteger(request.estimate.tokens);
    const micros = toLedgerInteger(request.estimate.costMicros);
    const id = `${LEASE_ID_PREFIX}.${(leaseCounter++).toString(36)}`;
    if (nodes.length === 0) {
      return { admitted: true, lease: new RedisLease(nodes, id, undefined, [], false), deadline: undefined, violation: undefined };
    }
    this.#startTimer();
    const tag = this.#tag(nodes[0]!.key);
    const keys = this.#leaseKeys(tag, id, nodes);
    const args: Array<string | number> = [id, now, request.enforce ? 1 : 0, tokens, micros, this.#options.leaseTtlMs, nodes.length];
    for (const node of nodes) {
      const { limits } = node;
      args.push(
        node.ephemeral ? 1 : 0,
        limitArg(limits.executions),
        limitArg(limits.concurrent),
        limitArg(limits.tokens),
        limitArg(limits.costMicros),
        limitArg(limits.wallTimeMs),
      );
    }

    let reply: Reply;
    try {
      reply = await this.#call('reserve', keys, args, (late) => this.#cancelLateReservation(nodes, tag, keys, id, late));
    } catch (error) {
      if (this.#options.onUnavailable === 'deny') throw new QuotaStoreUnavailableError(this.name, error);
      logger.warn(`quota store redis unavailable; run admitted unaccounted (onUnavailable: 'allow')`, error);
      return {
        admitted: true,
        lease: new RedisLease(nodes, id, tag, keys, true),
        deadline: undefined,
        violation: undefined,
        unaccounted: true,
      };
    }

    // A denied run leaves no budget of its own behind (nothing is in flight under it).
    this.#applyStates(nodes, tag, reply, HEADER_WIDTH, reply[0] !== 'denied');
    const violation = readViolation(nodes, reply);
    if (reply[0] === 'denied') return { admitted: false, violation: violation! };
    const lease = new RedisLease(nodes, id, tag, keys, false);
    tag.live.add(lease);
    let deadline: number | undefined;
    for (const node of nodes) {
      const wallTimeMs = node.limits.wallTimeMs;
      const startedAt = this.#view.get(node.key)?.state.startedAt;
      if (wallTimeMs === undefined || startedAt === undefined) continue;
      if (deadline === undefined || startedAt + wallTimeMs < deadline) deadline = startedAt + wallTimeMs;
    }
    return { admitted: true, lease, deadline, violation };
  }

  async charge(lease: QuotaLease, usage: LedgerUsage): Promise<ChargeResult> {
    const redisLease = lease as RedisLease;
    const { nodes, tag } = redisLease;
    if (tag === undefined) return undefined;
    const tokens = toLedgerInteger(usage.tokens);
    const micros = toLedgerInteger(usage.costMicros);
    if (tokens === 0 && micros === 0) return undefined;
    redisLease.seq += 1;
    const args: Array<string | number> = [redisLease.id, tokens, micros, redisLease.seq, this.#options.leaseTtlMs, nodes.length];
    for (const node of nodes) args.push(node.ephemeral ? 1 : 0, limitArg(node.limits.tokens), limitArg(node.limits.costMicros));
    try {
      const reply = await this.#call('charge', redisLease.keys, args, (late) => this.#applyStates(nodes, tag, late, HEADER_WIDTH, false));
      this.#applyStates(nodes, tag, reply, HEADER_WIDTH, false);
      return reply[0] === 'charged' ? readViolation(nodes, reply) : undefined;
    } catch (error) {
      logger.warn(`quota store redis: charging ${tokens} tokens and ${micros} micro-USD failed or timed out; that usage may be missing from the shared budget`, error);
      return undefined;
    }
  }

  async settle(lease: QuotaLease): Promise<void> {
    const redisLease = lease as RedisLease;
    if (redisLease.settled) return;
    redisLease.settled = true;
    if (redisLease.tag === undefined || redisLease.unaccounted) return;
    redisLease.tag.live.delete(redisLease);
    if (!(await this.#sendSettle(redisLease, 'settle'))) this.#pendingSettles.set(redisLease, { mode: 'settle', since: Date.now() });
  }

  read(key: string): LedgerState | undefined {
    return this.#view.get(key)?.state;
  }

  scopes(): Iterable<string> {
    return this.#scopes;
  }

  /** Stops the background sync. The Redis client is yours: quit it yourself. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Runs one script within `timeoutMs`. A reply that arrives after the timeout goes to `onLate`. */
  #call(role: keyof typeof COMMANDS, keys: readonly string[], args: ReadonlyArray<string | number>, onLate?: (reply: Reply) => void): Promise<Reply> {
    const { redis, timeoutMs } = this.#options;
    if (redis.status === 'end') return Promise.reject(new Error('the Redis client is closed'));
    let pending: Promise<Reply>;
    try {
      pending = this.#calls[role](keys.length, ...keys, ...args);
    } catch (error) {
      return Promise.reject(error);
    }
    return new Promise<Reply>((resolve, reject) => {
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        reject(new RedisTimeoutError(timeoutMs));
      }, timeoutMs);
      pending.then(
        (reply) => {
          if (!timedOut) {
            clearTimeout(timer);
            resolve(reply);
          } else if (onLate !== undefined) {
            try {
              onLate(reply);
            } catch (error) {
              logger.error('quota store redis: handling a late reply failed', error);
            }
          }
        },
        (error: unknown) => {
          if (timedOut) return;
          clearTimeout(timer);
          reject(error);
        },
      );
    });
  }

  /** A reservation that Redis applied after its caller gave up: give everything back, execution included. */
  #cancelLateReservation(nodes: readonly BudgetNode[], tag: TagEntry, keys: readonly string[], id: string, reply: Reply): void {
    if (reply[0] !== 'admitted' && reply[0] !== 'duplicate') return;
    this.#applyStates(nodes, tag, reply, HEADER_WIDTH, true);
    const lease = new RedisLease(nodes, id, tag, keys, false);
    lease.settled = true;
    // Background work: #sendSettle never rejects.
    void this.#sendSettle(lease, 'cancel').then((done) => {
      if (!done) this.#pendingSettles.set(lease, { mode: 'cancel', since: Date.now() });
    });
  }

  /** Sends a settlement; resolves to whether Redis applied (or had already applied) it. Never rejects. */
  async #sendSettle(lease: RedisLease, mode: 'settle' | 'cancel'): Promise<boolean> {
    const { nodes, tag } = lease;
    const args: Array<string | number> = [lease.id, mode, this.#options.leaseTtlMs, nodes.length];
    for (const node of nodes) args.push(node.ephemeral ? 1 : 0);
    try {
      const reply = await this.#call('settle', lease.keys, args);
      this.#applyStates(nodes, tag!, reply, 1, false);
      return true;
    } catch (error) {
      logger.warn('quota store redis: settling a run failed; retrying in the background (its lease expires after leaseTtlMs)', error);
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
      for (const tag of this.#tags.values()) {
        if (tag.live.size > 0 || refresh) work.push(this.#syncTag(tag));
      }
      for (const [lease, pending] of this.#pendingSettles) {
        // Not renewed since the first failure: past the TTL the sweep has released it already.
        if (now - pending.since > leaseTtlMs) {
          this.#pendingSettles.delete(lease);
          continue;
        }
        work.push(this.#sendSettle(lease, pending.mode).then((done) => done && this.#pendingSettles.delete(lease)));
      }
      await Promise.allSettled(work);
      if (refresh) this.#lastRefresh = now;
    } catch (error) {
      logger.error('quota store redis: background sync failed', error);
    } finally {
      this.#syncing = false;
    }
  }

  async #syncTag(tag: TagEntry): Promise<void> {
    const leases = [...tag.live];
    const nodeKeys = [...tag.nodes];
    const entries = nodeKeys.map((key) => this.#view.get(key)!);
    const args: Array<string | number> = [this.#options.leaseTtlMs, leases.length, ...leases.map((lease) => lease.id), nodeKeys.length];
    let reply: Reply;
    try {
      reply = await this.#call('sync', [tag.leasesKey, ...entries.map((entry) => entry.redisKey)], args);
    } catch (error) {
      logger.warn('quota store redis: renewing leases and refreshing quota state failed', error);
      return;
    }
    const missing = new Set(reply.slice(1, 1 + Number(reply[0])).map(String));
    for (const lease of leases) {
      if (!missing.has(lease.id) || lease.settled) continue;
      tag.live.delete(lease);
      logger.warn(`quota store redis: lease ${lease.id} expired while its run was in flight; its reservation was released`);
    }
    const offset = 1 + missing.size;
    for (let i = 0; i < nodeKeys.length; i++) {
      this.#applyNode(nodeKeys[i]!, entries[i]!.ephemeral, undefined, tag, reply, offset + i * NODE_WIDTH, false);
    }
  }

  /** Updates the local view from the node states at `offset` in a script reply. */
  #applyStates(nodes: readonly BudgetNode[], tag: TagEntry, reply: Reply, offset: number, keepMissing: boolean): void {
    for (let i = 0; i < nodes.length; i++) {
      const node = nodes[i]!;
      this.#applyNode(node.key, node.ephemeral, node.limits, tag, reply, offset + i * NODE_WIDTH, keepMissing);
    }
  }

  #applyNode(key: string, ephemeral: boolean, limits: LedgerLimits | undefined, tag: TagEntry, reply: Reply, at: number, keepMissing: boolean): void {
    const exists = Number(reply[at]) === 1;
    if (!exists && ephemeral && !keepMissing) {
      // A run budget with nothing in flight under it is gone from Redis; forget it here too.
      this.#view.delete(key);
      tag.nodes.delete(key);
      return;
    }
    const entry = this.#entry(key, ephemeral, tag, limits);
    const { used, reserved } = entry.state;
    used.executions = Number(reply[at + 1]);
    used.tokens = Number(reply[at + 2]);
    used.costMicros = Number(reply[at + 3]);
    reserved.executions = Number(reply[at + 4]);
    reserved.tokens = Number(reply[at + 5]);
    reserved.costMicros = Number(reply[at + 6]);
    reserved.concurrent = Number(reply[at + 7]);
    const startedAt = Number(reply[at + 8]);
    entry.state.startedAt = startedAt >= 0 ? startedAt : undefined;
    if (limits !== undefined) entry.state.limits = limits;
  }

  #entry(key: string, ephemeral: boolean, tag: TagEntry, limits: LedgerLimits | undefined): ViewEntry {
    let entry = this.#view.get(key);
    if (entry === undefined) {
      const state: MutableLedgerState = { used: emptyAmounts(), reserved: emptyAmounts(), startedAt: undefined, limits: limits ?? {} };
      entry = { state, redisKey: nodeRedisKey(tag, key, ephemeral), ephemeral };
      this.#view.set(key, entry);
      tag.nodes.add(key);
      if (!ephemeral) this.#scopes.add(key);
    }
    return entry;
  }

  #tag(scope: string): TagEntry {
    const tag = hashTag(scope);
    let entry = this.#tags.get(tag);
    if (entry === undefined) {
      entry = { leasesKey: `${this.#options.keyPrefix}{${tag}}:leases`, nodes: new Set(), live: new Set() };
      this.#tags.set(tag, entry);
    }
    return entry;
  }

  #leaseKeys(tag: TagEntry, id: string, nodes: readonly BudgetNode[]): string[] {
    const keys = [tag.leasesKey, `${tag.leasesKey}:${id}`];
    for (const node of nodes) keys.push(nodeRedisKey(tag, node.key, node.ephemeral));
    return keys;
  }
}

/**
 * The Redis key of a budget node. A run budget (ephemeral) belongs to one run in one process and
 * its key is only unique within that process, so it is namespaced by the process's lease prefix;
 * a scope is shared by every replica.
 */
function nodeRedisKey(tag: TagEntry, key: string, ephemeral: boolean): string {
  const base = tag.leasesKey.slice(0, -':leases'.length);
  return ephemeral ? `${base}:run:${LEASE_ID_PREFIX}:${key}` : `${base}:node:${key}`;
}

/**
 * The hash tag of a budget hierarchy: its root scope's key with braces replaced, so that the tag
 * is never empty and never cut short (Redis hashes only what is between the first `{` and `}`).
 */
export function hashTag(scope: string): string {
  const tag = scope.replace(/[{}]/g, '_');
  return tag === '' ? '_' : tag;
}

function readViolation(nodes: readonly BudgetNode[], reply: Reply): LedgerViolation | undefined {
  const resource = reply[1];
  if (resource === '' || resource === undefined) return undefined;
  return {
    resource: resource as LedgerViolation['resource'],
    key: nodes[Number(reply[2]) - 1]!.key,
    limit: Number(reply[3]),
    used: Number(reply[4]),
    requested: Number(reply[5]),
  };
}

function limitArg(limit: number | undefined): number {
  return limit === undefined ? -1 : limit;
}

/** Redis counts in integers: tokens and micro-dollars are rounded, anything invalid counts as 0. */
function toLedgerInteger(value: number): number {
  if (!Number.isFinite(value) || value <= 0) return 0;
  return Number.isInteger(value) ? value : Math.round(value);
}

function commandName(role: string, script: string): string {
  return `agentmetry${role}_${createHash('sha1').update(script).digest('hex').slice(0, 10)}`;
}
