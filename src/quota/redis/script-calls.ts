import { createHash } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import { createLogger, safeCall } from '../../log.js';
import type { BudgetNode } from '../store.js';
import type { BudgetWindow } from '../windows.js';
import { windowCounts } from './keys.js';
import {
  decodeCharge,
  decodeHold,
  decodeRelease,
  decodeReserve,
  decodeSettle,
  decodeSync,
  type ChargeReply,
  type HoldReply,
  type ReleaseReply,
  type ReserveReply,
  type SettleReply,
  type SyncReply,
} from './replies.js';
import { CHARGE_SCRIPT, HOLD_SCRIPT, RELEASE_SCRIPT, RESERVE_SCRIPT, SETTLE_SCRIPT, SYNC_SCRIPT } from './scripts.js';

/**
 * The four scripts as calls: arguments in the order each script reads them (see `scripts.ts`),
 * one bounded wait for the reply, and replies decoded into named fields. A reply that arrives
 * after its caller gave up goes to the caller's `onLate`, if any.
 */

const log = createLogger('redis');

type Script = 'reserve' | 'charge' | 'hold' | 'release' | 'settle' | 'sync';
type Arg = string | number;
type Command = (...args: Arg[]) => Promise<unknown>;

const SCRIPTS: Record<Script, { lua: string; command: string }> = {
  reserve: { lua: RESERVE_SCRIPT, command: commandName('Reserve', RESERVE_SCRIPT) },
  charge: { lua: CHARGE_SCRIPT, command: commandName('Charge', CHARGE_SCRIPT) },
  hold: { lua: HOLD_SCRIPT, command: commandName('Hold', HOLD_SCRIPT) },
  release: { lua: RELEASE_SCRIPT, command: commandName('Release', RELEASE_SCRIPT) },
  settle: { lua: SETTLE_SCRIPT, command: commandName('Settle', SETTLE_SCRIPT) },
  sync: { lua: SYNC_SCRIPT, command: commandName('Sync', SYNC_SCRIPT) },
};

/** The calls on one lease share their KEYS (leases, the lease, then the nodes) and TTL. */
interface LeaseCall {
  /** From `leaseScriptKeys`. */
  readonly keys: readonly string[];
  readonly leaseId: string;
  readonly nodes: readonly BudgetNode[];
  readonly leaseTtlMs: number;
}

export interface ReserveCall extends LeaseCall {
  /** The admission time: it decides the window buckets the lease counts in. */
  readonly now: number;
  readonly enforce: boolean;
  /** The estimate, in integer ledger units. */
  readonly tokens: number;
  readonly costNanos: number;
  /**
   * Epoch ms (this process's clock) after which Redis refuses the reservation as `expired`: the
   * caller's deadline plus the tolerance for clock skew. `-1`: never.
   */
  readonly refuseAfter: number;
}

export interface ChargeCall extends LeaseCall {
  /** Usage, in integer ledger units. */
  readonly tokens: number;
  readonly costNanos: number;
  /** The lease's charge number: the script applies each number once. */
  readonly sequence: number;
  /** When the lease was admitted, and the time of this charge: a window counts it only if the lease's bucket is live then. */
  readonly admittedAt: number;
  readonly now: number;
}

export interface HoldCall extends LeaseCall {
  /** The amount, in integer ledger units. */
  readonly tokens: number;
  readonly costNanos: number;
  /** For `hold`: when false, hold even past a limit (and report it). */
  readonly enforce: boolean;
  readonly admittedAt: number;
  readonly now: number;
}

export type ReleaseCall = Omit<HoldCall, 'enforce'>;

export interface SettleCall extends LeaseCall {
  /** `cancel` gives the execution back too (a reservation its caller had given up on). */
  readonly mode: 'settle' | 'cancel';
  readonly admittedAt: number;
  readonly now: number;
}

/** A node the background sync reads back, with the keys of its windows. */
export interface SyncedNode {
  readonly redisKey: string;
  readonly windows: ReadonlyArray<{ readonly key: string; readonly window: BudgetWindow }>;
}

export interface SyncCall {
  /** The hierarchy's lease set. */
  readonly leasesKey: string;
  /** This process's live leases in the hierarchy, to renew. */
  readonly leaseIds: readonly string[];
  /** The nodes to read back. */
  readonly nodes: readonly SyncedNode[];
  readonly leaseTtlMs: number;
  /** Decides which window buckets are live. */
  readonly now: number;
}

/** How long a call waits for Redis (see `#call`). */
export interface CallTiming {
  /** Time Redis has to answer, counted while this process's event loop is free. */
  readonly timeoutMs: number;
  /** The longest a call waits however busy the loop was, in wall-clock milliseconds. */
  readonly maxWaitMs: number;
}

/** Redis did not answer within the store's `timeoutMs`. */
export class RedisTimeoutError extends Error {
  constructor(timeoutMs: number) {
    super(`Redis did not answer within ${timeoutMs} ms`);
    this.name = 'RedisTimeoutError';
  }
}

export class ScriptCalls {
  readonly #redis: Redis | Cluster;
  readonly #timing: CallTiming;
  readonly #commands: Record<Script, Command>;

  /** Defines the scripts as commands on the client, unless another store on the same client already did. */
  constructor(redis: Redis | Cluster, timing: CallTiming) {
    this.#redis = redis;
    this.#timing = timing;
    const client = redis as unknown as Record<string, unknown> & { defineCommand(name: string, definition: { lua: string }): void };
    const command = (script: Script): Command => {
      const { lua, command: name } = SCRIPTS[script];
      if (typeof client[name] !== 'function') client.defineCommand(name, { lua });
      return (...args) => (client[name] as Command).apply(client, args);
    };
    this.#commands = {
      reserve: command('reserve'),
      charge: command('charge'),
      hold: command('hold'),
      release: command('release'),
      settle: command('settle'),
      sync: command('sync'),
    };
  }

  reserve(call: ReserveCall, onLate?: (reply: ReserveReply) => void): Promise<ReserveReply> {
    const args: Arg[] = [call.leaseId, call.now, call.enforce ? 1 : 0, call.tokens, call.costNanos, call.leaseTtlMs, call.nodes.length, call.refuseAfter];
    const { now } = call;
    for (const { ephemeral, limits, idleTtlMs } of call.nodes) {
      const windows = limits.windows ?? [];
      args.push(
        flag(ephemeral),
        limitArg(limits.executions),
        limitArg(limits.concurrent),
        limitArg(limits.tokens),
        limitArg(limits.costNanos),
        limitArg(limits.wallTimeMs),
        limitArg(idleTtlMs),
        windows.length,
      );
      for (const window of windows) {
        const { executions, tokens, costNanos } = window.limits;
        const oldest = window.oldestLiveStart(now);
        // Kept a window longer than they count, for reservations decided a little earlier than this one.
        const pruneBefore = window.oldestLiveStart(oldest - 1);
        args.push(window.bucketStart(now), oldest, window.expiresAt(now), limitArg(executions), limitArg(tokens), limitArg(costNanos), pruneBefore);
      }
    }
    const shape = windowCounts(call.nodes);
    return this.#call('reserve', call.keys, args, (reply) => decodeReserve(reply, shape), onLate);
  }

  charge(call: ChargeCall, onLate?: (reply: ChargeReply) => void): Promise<ChargeReply> {
    const args = [call.leaseId, call.tokens, call.costNanos, call.sequence, call.leaseTtlMs, ...leaseNodeArgs(call, true)];
    const shape = windowCounts(call.nodes);
    return this.#call('charge', call.keys, args, (reply) => decodeCharge(reply, shape), onLate);
  }

  hold(call: HoldCall): Promise<HoldReply> {
    const args = [call.leaseId, call.tokens, call.costNanos, flag(call.enforce), call.leaseTtlMs, ...leaseNodeArgs(call, true)];
    const shape = windowCounts(call.nodes);
    return this.#call('hold', call.keys, args, (reply) => decodeHold(reply, shape));
  }

  release(call: ReleaseCall): Promise<ReleaseReply> {
    const args = [call.leaseId, call.tokens, call.costNanos, ...leaseNodeArgs(call, false)];
    const shape = windowCounts(call.nodes);
    return this.#call('release', call.keys, args, (reply) => decodeRelease(reply, shape));
  }

  settle(call: SettleCall): Promise<SettleReply> {
    const args = [call.leaseId, call.mode, call.leaseTtlMs, ...leaseNodeArgs(call, false)];
    const shape = windowCounts(call.nodes);
    return this.#call('settle', call.keys, args, (reply) => decodeSettle(reply, shape));
  }

  sync(call: SyncCall): Promise<SyncReply> {
    const args: Arg[] = [call.leaseTtlMs, call.leaseIds.length, ...call.leaseIds, call.nodes.length];
    const keys = [call.leasesKey];
    for (const node of call.nodes) {
      keys.push(node.redisKey);
      args.push(node.windows.length);
      for (const { window } of node.windows) args.push(window.oldestLiveStart(call.now));
    }
    for (const node of call.nodes) for (const { key } of node.windows) keys.push(key);
    const shape = call.nodes.map((node) => node.windows.length);
    return this.#call('sync', keys, args, (reply) => decodeSync(reply, shape));
  }

  /**
   * Runs one script and waits for its reply until Redis is late. Redis is late when no reply has
   * been read `timeoutMs` after the command could be sent, counting only time in which this
   * process's event loop was free to send and read:
   *
   * - When the timer fires, the decision waits one macrotask turn (`setImmediate`, after the poll
   *   phase), so that a reply already received but not yet read wins over the timeout.
   * - When the timer fires late by more than `LOOP_LAG_MS(timeoutMs)`, the loop was blocked (a
   *   CPU spike): commands queued behind the block may not even have been written yet. The wait
   *   starts again, a full `timeoutMs` from the moment the loop ran again.
   * - Whatever the loop does, the wait ends `maxWaitMs` after the call.
   *
   * A reply that arrives after the caller gave up goes to `onLate`.
   */
  #call<T>(script: Script, keys: readonly string[], args: readonly Arg[], decode: (reply: unknown) => T, onLate?: (reply: T) => void): Promise<T> {
    if (this.#redis.status === 'end') return Promise.reject(new Error('the Redis client is closed'));
    let pending: Promise<unknown>;
    try {
      pending = this.#commands[script](keys.length, ...keys, ...args);
    } catch (error) {
      return Promise.reject(error);
    }
    const { timeoutMs, maxWaitMs } = this.#timing;
    const calledAt = performance.now();
    return new Promise<T>((resolve, reject) => {
      let gaveUp = false;
      let answered = false;
      let timer: NodeJS.Timeout | undefined;
      const wait = (waitMs: number): void => {
        const armedAt = performance.now();
        timer = setTimeout(() => {
          const lateMs = performance.now() - armedAt - waitMs;
          // Replies that arrived while the loop was busy are read in the poll phase, before this runs.
          setImmediate(() => {
            if (answered) return;
            const left = calledAt + maxWaitMs - performance.now();
            if (lateMs > loopLagMs(timeoutMs) && left > 0) {
              wait(Math.min(timeoutMs, left));
              return;
            }
            gaveUp = true;
            reject(new RedisTimeoutError(timeoutMs));
          });
        }, waitMs);
      };
      wait(timeoutMs);
      pending.then(
        (reply) => {
          answered = true;
          if (!gaveUp) {
            clearTimeout(timer);
            try {
              resolve(decode(reply));
            } catch (error) {
              reject(error);
            }
          } else if (onLate !== undefined) {
            safeCall(log, 'quota store redis: handling a late reply', () => onLate(decode(reply)));
          }
        },
        (error: unknown) => {
          answered = true;
          if (gaveUp) return;
          clearTimeout(timer);
          reject(error);
        },
      );
    });
  }
}

/**
 * How late a timer may fire before the wait counts as interrupted by a blocked event loop: a
 * tenth of `timeoutMs`, at least 10 ms (ordinary timer jitter on a loaded machine stays below).
 */
export function loopLagMs(timeoutMs: number): number {
  return Math.max(10, timeoutMs / 10);
}

/** ioredis command names, versioned by the script's hash so two package versions on one client never clash. */
function commandName(role: string, script: string): string {
  return `agentmetry${role}_${createHash('sha1').update(script).digest('hex').slice(0, 10)}`;
}

/**
 * The node arguments of the scripts on one admitted lease (charge, hold, release, settle; read by
 * `lease_nodes` in the scripts): N, then per node ephemeral (1|0), `withLimits`: its tokens and
 * nano-dollar limits, then W and per window the lease's bucket start, whether it is live, the
 * oldest live bucket's start, `withLimits`: the window's tokens and nano-dollar limits.
 */
function leaseNodeArgs(call: { nodes: readonly BudgetNode[]; admittedAt: number; now: number }, withLimits: boolean): Arg[] {
  const args: Arg[] = [call.nodes.length];
  for (const { ephemeral, limits } of call.nodes) {
    const windows = limits.windows ?? [];
    args.push(flag(ephemeral));
    if (withLimits) args.push(limitArg(limits.tokens), limitArg(limits.costNanos));
    args.push(windows.length);
    for (const window of windows) {
      const { start, live, oldest } = leaseBucket(window, call.admittedAt, call.now);
      args.push(start, flag(live), oldest);
      if (withLimits) args.push(limitArg(window.limits.tokens), limitArg(window.limits.costNanos));
    }
  }
  return args;
}

/** The bucket a lease admitted at `admittedAt` counts in, whether it still counts at `now`, and the window's oldest live bucket then. */
function leaseBucket(window: BudgetWindow, admittedAt: number, now: number): { start: number; live: boolean; oldest: number } {
  const start = window.bucketStart(admittedAt);
  const oldest = window.oldestLiveStart(now);
  return { start, live: start >= oldest, oldest };
}

function flag(value: boolean): number {
  return value ? 1 : 0;
}

function limitArg(limit: number | undefined): number {
  return limit ?? -1;
}
