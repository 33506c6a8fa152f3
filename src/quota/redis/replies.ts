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
  /** Per window of the node (in the request's order): its live buckets. */
  readonly windows: ReadonlyArray<readonly BucketReply[]>;
}

/** One live bucket of a window, in ledger units (`concurrent` is always 0). */
export interface BucketReply {
  /** Epoch ms where the bucket starts. */
  readonly start: number;
  readonly used: LedgerAmounts;
  readonly reserved: LedgerAmounts;
}

/** A limit a script found exceeded, naming the node by its position in the request (0-based). */
export interface ReplyViolation {
  readonly resource: LedgerViolation['resource'];
  readonly nodeIndex: number;
  /** The window of the node whose limit tripped (0-based); undefined for a limit that never resets. */
  readonly windowIndex: number | undefined;
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

export interface HoldReply {
  /** `noop`: the lease was already settled, or is gone; nothing was held. */
  readonly status: 'held' | 'denied' | 'noop';
  readonly violation: ReplyViolation | undefined;
  readonly nodes: readonly NodeReply[];
}

export interface ReleaseReply {
  /** `noop`: the lease was already settled, or is gone. */
  readonly status: 'released' | 'noop';
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

/** Values per node: exists, then ue ut uc re rt rc rk s (then its windows). */
const NODE_WIDTH = 9;
/** Values per window bucket: start, ue ut uc re rt rc. */
const BUCKET_WIDTH = 7;
/** Header of reserve and charge replies: status, resource, node index (1-based), window index (1-based, 0 = none), limit, used, requested. */
const VERDICT_WIDTH = 7;

/**
 * The shape of the nodes a script replies for: per node, how many windows it has (a plain count
 * of nodes: none has windows).
 */
export type ReplyShape = number | readonly number[];
const RESERVE_STATUSES = ['admitted', 'denied', 'duplicate', 'expired'] as const;
const CHARGE_STATUSES = ['charged', 'duplicate'] as const;
const SETTLE_STATUSES = ['settled', 'noop'] as const;
const HOLD_STATUSES = ['held', 'denied', 'noop'] as const;
const RELEASE_STATUSES = ['released', 'noop'] as const;
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

export function decodeReserve(reply: unknown, shape: ReplyShape): ReserveReply {
  const windows = windowCounts(shape);
  const values = expectArray('reserve', reply, VERDICT_WIDTH, windows);
  const status = oneOf('reserve', values, 0, RESERVE_STATUSES);
  const violation = decodeViolation('reserve', values, windows);
  if (status === 'denied' && violation === undefined) throw new MalformedReplyError('reserve', 'a denial without the limit it hit');
  return { status, violation, nodes: decodeNodes('reserve', values, VERDICT_WIDTH, windows) };
}

export function decodeCharge(reply: unknown, shape: ReplyShape): ChargeReply {
  const windows = windowCounts(shape);
  const values = expectArray('charge', reply, VERDICT_WIDTH, windows);
  return {
    status: oneOf('charge', values, 0, CHARGE_STATUSES),
    violation: decodeViolation('charge', values, windows),
    nodes: decodeNodes('charge', values, VERDICT_WIDTH, windows),
  };
}

export function decodeHold(reply: unknown, shape: ReplyShape): HoldReply {
  const windows = windowCounts(shape);
  const values = expectArray('hold', reply, VERDICT_WIDTH, windows);
  const status = oneOf('hold', values, 0, HOLD_STATUSES);
  const violation = decodeViolation('hold', values, windows);
  if (status === 'denied' && violation === undefined) throw new MalformedReplyError('hold', 'a denial without the limit it hit');
  return { status, violation, nodes: decodeNodes('hold', values, VERDICT_WIDTH, windows) };
}

export function decodeRelease(reply: unknown, shape: ReplyShape): ReleaseReply {
  const windows = windowCounts(shape);
  const values = expectArray('release', reply, 1, windows);
  return { status: oneOf('release', values, 0, RELEASE_STATUSES), nodes: decodeNodes('release', values, 1, windows) };
}

export function decodeSettle(reply: unknown, shape: ReplyShape): SettleReply {
  const windows = windowCounts(shape);
  const values = expectArray('settle', reply, 1, windows);
  return { status: oneOf('settle', values, 0, SETTLE_STATUSES), nodes: decodeNodes('settle', values, 1, windows) };
}

export function decodeSync(reply: unknown, shape: ReplyShape): SyncReply {
  const windows = windowCounts(shape);
  // The count of missing leases comes first and sets the length; the length check names a non-array.
  const missing = Array.isArray(reply) && reply.length > 0 ? integerAt('sync', reply as RawReply, 0) : 0;
  if (missing < 0) throw new MalformedReplyError('sync', `a count of ${missing} missing leases`);
  const values = expectArray('sync', reply, 1 + missing, windows);
  return {
    missingLeases: values.slice(1, 1 + missing).map(String),
    nodes: decodeNodes('sync', values, 1 + missing, windows),
  };
}

function windowCounts(shape: ReplyShape): readonly number[] {
  return typeof shape === 'number' ? new Array<number>(shape).fill(0) : shape;
}

/**
 * The reply as an array of exactly the values its header (`offset` values) and nodes take: each
 * window's bucket count, read where it sits, sets how long the window is.
 */
function expectArray(script: string, reply: unknown, offset: number, windows: readonly number[]): RawReply {
  if (!Array.isArray(reply)) throw new MalformedReplyError(script, `expected an array, got ${reply === null ? 'null' : typeof reply}`);
  let length = offset;
  for (const count of windows) {
    length += NODE_WIDTH;
    for (let window = 0; window < count; window++) {
      const buckets = length < reply.length ? integerAt(script, reply as RawReply, length) : 0;
      if (buckets < 0) throw new MalformedReplyError(script, `a count of ${buckets} buckets`);
      length += 1 + buckets * BUCKET_WIDTH;
    }
  }
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

/** The resource, node, window, limit, used and requested at the head of a reserve or charge reply, if any. */
function decodeViolation(script: string, reply: RawReply, windows: readonly number[]): ReplyViolation | undefined {
  const resource = reply[1];
  if (resource === '') return undefined;
  if (!RESOURCES.includes(resource as LedgerViolation['resource'])) throw new MalformedReplyError(script, `unknown resource ${String(resource)}`);
  const nodeIndex = integerAt(script, reply, 2) - 1;
  if (nodeIndex < 0 || nodeIndex >= windows.length) throw new MalformedReplyError(script, `node ${nodeIndex + 1} of ${windows.length}`);
  const window = integerAt(script, reply, 3);
  const windowCount = windows[nodeIndex]!;
  if (window < 0 || window > windowCount) throw new MalformedReplyError(script, `window ${window} of ${windowCount}`);
  return {
    resource: resource as LedgerViolation['resource'],
    nodeIndex,
    windowIndex: window === 0 ? undefined : window - 1,
    limit: integerAt(script, reply, 4),
    used: integerAt(script, reply, 5),
    requested: integerAt(script, reply, 6),
  };
}

function decodeNodes(script: string, reply: RawReply, offset: number, windows: readonly number[]): NodeReply[] {
  const nodes = new Array<NodeReply>(windows.length);
  const at = (index: number) => integerAt(script, reply, index);
  let base = offset;
  for (let i = 0; i < windows.length; i++) {
    const startedAt = at(base + 8);
    const nodeWindows: BucketReply[][] = [];
    const node = {
      exists: at(base) === 1,
      used: { executions: at(base + 1), tokens: at(base + 2), costNanos: at(base + 3), concurrent: 0 },
      reserved: { executions: at(base + 4), tokens: at(base + 5), costNanos: at(base + 6), concurrent: at(base + 7) },
      startedAt: startedAt >= 0 ? startedAt : undefined,
      windows: nodeWindows,
    };
    base += NODE_WIDTH;
    for (let window = 0; window < windows[i]!; window++) {
      const buckets: BucketReply[] = [];
      const count = at(base);
      base += 1;
      for (let bucket = 0; bucket < count; bucket++, base += BUCKET_WIDTH) {
        buckets.push({
          start: at(base),
          used: { executions: at(base + 1), tokens: at(base + 2), costNanos: at(base + 3), concurrent: 0 },
          reserved: { executions: at(base + 4), tokens: at(base + 5), costNanos: at(base + 6), concurrent: 0 },
        });
      }
      nodeWindows.push(buckets);
    }
    nodes[i] = node;
  }
  return nodes;
}
