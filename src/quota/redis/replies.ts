import type { LedgerAmounts, LedgerViolation } from '../store.js';

/**
 * Decoding of the scripts' replies (flat arrays, see `scripts.ts`) into objects with named
 * fields. The only place that knows where a value sits in a reply.
 */

/** A script reply as ioredis returns it. */
type RawReply = ReadonlyArray<string | number>;

/** One node's state after a script ran. */
export interface NodeReply {
  /** Whether the node's hash exists in Redis (a run budget with nothing in flight under it does not). */
  readonly exists: boolean;
  /** `concurrent` is always 0: only reservations hold slots. */
  readonly used: LedgerAmounts;
  readonly reserved: LedgerAmounts;
  readonly startedAt: number | undefined;
}

/** A limit a script found exceeded, naming the node by its position in the request (0-based). */
export interface ReplyViolation {
  readonly resource: LedgerViolation['resource'];
  readonly nodeIndex: number;
  readonly limit: number;
  readonly used: number;
  readonly requested: number;
}

export interface ReserveReply {
  /**
   * `duplicate`: the same reservation was delivered twice and applied once. `expired`: it reached
   * Redis after its caller's deadline and reserved nothing.
   */
  readonly status: 'admitted' | 'denied' | 'duplicate' | 'expired';
  readonly violation: ReplyViolation | undefined;
  readonly nodes: readonly NodeReply[];
}

export interface ChargeReply {
  /** `duplicate`: the lease had already applied this charge. */
  readonly status: 'charged' | 'duplicate';
  readonly violation: ReplyViolation | undefined;
  readonly nodes: readonly NodeReply[];
}

export interface SettleReply {
  /** `noop`: the lease was already settled, or is gone. */
  readonly status: 'settled' | 'noop';
  readonly nodes: readonly NodeReply[];
}

export interface SyncReply {
  /** Ids of the live leases that Redis no longer had (they expired and were swept). */
  readonly missingLeases: readonly string[];
  readonly nodes: readonly NodeReply[];
}

/** Values per node: exists, then ue ut uc re rt rc rk s. */
const NODE_WIDTH = 9;
/** Header of reserve and charge replies: status, resource, node index (1-based), limit, used, requested. */
const VERDICT_WIDTH = 6;
const RESERVE_STATUSES = ['admitted', 'denied', 'duplicate', 'expired'] as const;
const CHARGE_STATUSES = ['charged', 'duplicate'] as const;
const SETTLE_STATUSES = ['settled', 'noop'] as const;
const RESOURCES: ReadonlyArray<LedgerViolation['resource']> = ['executions', 'tokens', 'costUsd', 'wallTimeMs', 'concurrent'];

/**
 * A script reply that does not have the shape this package's scripts produce: a truncated array
 * (a corrupted field makes Lua end the array early), a proxy or another version in between.
 * The store treats it like an unreachable Redis, never as a programming error.
 */
export class MalformedReplyError extends Error {
  override readonly name = 'MalformedReplyError';

  constructor(script: string, problem: string) {
    super(`the Redis ${script} script returned a malformed reply: ${problem}`);
  }
}

export function decodeReserve(reply: unknown, nodeCount: number): ReserveReply {
  const values = expectArray('reserve', reply, VERDICT_WIDTH + nodeCount * NODE_WIDTH);
  const status = oneOf('reserve', values, 0, RESERVE_STATUSES);
  const violation = decodeViolation('reserve', values, nodeCount);
  if (status === 'denied' && violation === undefined) throw new MalformedReplyError('reserve', 'a denial without the limit it hit');
  return { status, violation, nodes: decodeNodes('reserve', values, VERDICT_WIDTH, nodeCount) };
}

export function decodeCharge(reply: unknown, nodeCount: number): ChargeReply {
  const values = expectArray('charge', reply, VERDICT_WIDTH + nodeCount * NODE_WIDTH);
  return {
    status: oneOf('charge', values, 0, CHARGE_STATUSES),
    violation: decodeViolation('charge', values, nodeCount),
    nodes: decodeNodes('charge', values, VERDICT_WIDTH, nodeCount),
  };
}

export function decodeSettle(reply: unknown, nodeCount: number): SettleReply {
  const values = expectArray('settle', reply, 1 + nodeCount * NODE_WIDTH);
  return { status: oneOf('settle', values, 0, SETTLE_STATUSES), nodes: decodeNodes('settle', values, 1, nodeCount) };
}

export function decodeSync(reply: unknown, nodeCount: number): SyncReply {
  // The count of missing leases comes first and sets the length; the length check names a non-array.
  const missing = Array.isArray(reply) && reply.length > 0 ? integerAt('sync', reply as RawReply, 0) : 0;
  if (missing < 0) throw new MalformedReplyError('sync', `a count of ${missing} missing leases`);
  const values = expectArray('sync', reply, 1 + missing + nodeCount * NODE_WIDTH);
  return {
    missingLeases: values.slice(1, 1 + missing).map(String),
    nodes: decodeNodes('sync', values, 1 + missing, nodeCount),
  };
}

/** The reply as an array of exactly `length` values. */
function expectArray(script: string, reply: unknown, length: number): RawReply {
  if (!Array.isArray(reply)) throw new MalformedReplyError(script, `expected an array, got ${reply === null ? 'null' : typeof reply}`);
  if (reply.length !== length) throw new MalformedReplyError(script, `expected ${length} values, got ${reply.length}`);
  return reply as RawReply;
}

/** The integer at `index` (Redis returns Lua numbers as integers). */
function integerAt(script: string, reply: RawReply, index: number): number {
  const value = reply[index];
  const number = typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(number)) throw new MalformedReplyError(script, `value ${index} is not an integer (${String(value)})`);
  return number;
}

function oneOf<T extends string>(script: string, reply: RawReply, index: number, allowed: readonly T[]): T {
  const value = reply[index];
  if (!allowed.includes(value as T)) throw new MalformedReplyError(script, `unknown status ${String(value)}`);
  return value as T;
}

/** The resource, node, limit, used and requested at the head of a reserve or charge reply, if any. */
function decodeViolation(script: string, reply: RawReply, nodeCount: number): ReplyViolation | undefined {
  const resource = reply[1];
  if (resource === '') return undefined;
  if (!RESOURCES.includes(resource as LedgerViolation['resource'])) throw new MalformedReplyError(script, `unknown resource ${String(resource)}`);
  const nodeIndex = integerAt(script, reply, 2) - 1;
  if (nodeIndex < 0 || nodeIndex >= nodeCount) throw new MalformedReplyError(script, `node ${nodeIndex + 1} of ${nodeCount}`);
  return {
    resource: resource as LedgerViolation['resource'],
    nodeIndex,
    limit: integerAt(script, reply, 3),
    used: integerAt(script, reply, 4),
    requested: integerAt(script, reply, 5),
  };
}

function decodeNodes(script: string, reply: RawReply, offset: number, count: number): NodeReply[] {
  const nodes = new Array<NodeReply>(count);
  const at = (index: number) => integerAt(script, reply, index);
  for (let i = 0; i < count; i++) {
    const base = offset + i * NODE_WIDTH;
    const startedAt = at(base + 8);
    nodes[i] = {
      exists: at(base) === 1,
      used: { executions: at(base + 1), tokens: at(base + 2), costNanos: at(base + 3), concurrent: 0 },
      reserved: { executions: at(base + 4), tokens: at(base + 5), costNanos: at(base + 6), concurrent: at(base + 7) },
      startedAt: startedAt >= 0 ? startedAt : undefined,
    };
  }
  return nodes;
}
