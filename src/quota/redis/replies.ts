import type { LedgerAmounts, LedgerViolation } from '../store.js';

/**
 * Decoding of the scripts' replies (flat arrays, see `scripts.ts`) into objects with named
 * fields. The only place that knows where a value sits in a reply.
 */

/** A script reply as ioredis returns it. */
export type RawReply = ReadonlyArray<string | number>;

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
  /** `duplicate`: the same reservation was delivered twice and applied once. */
  readonly status: 'admitted' | 'denied' | 'duplicate';
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

export function decodeReserve(reply: RawReply, nodeCount: number): ReserveReply {
  return {
    status: String(reply[0]) as ReserveReply['status'],
    violation: decodeViolation(reply),
    nodes: decodeNodes(reply, VERDICT_WIDTH, nodeCount),
  };
}

export function decodeCharge(reply: RawReply, nodeCount: number): ChargeReply {
  return {
    status: String(reply[0]) as ChargeReply['status'],
    violation: decodeViolation(reply),
    nodes: decodeNodes(reply, VERDICT_WIDTH, nodeCount),
  };
}

export function decodeSettle(reply: RawReply, nodeCount: number): SettleReply {
  return { status: String(reply[0]) as SettleReply['status'], nodes: decodeNodes(reply, 1, nodeCount) };
}

export function decodeSync(reply: RawReply, nodeCount: number): SyncReply {
  const missing = Number(reply[0]);
  return {
    missingLeases: reply.slice(1, 1 + missing).map(String),
    nodes: decodeNodes(reply, 1 + missing, nodeCount),
  };
}

/** The resource, node, limit, used and requested at the head of a reserve or charge reply, if any. */
function decodeViolation(reply: RawReply): ReplyViolation | undefined {
  const resource = reply[1];
  if (resource === '' || resource === undefined) return undefined;
  return {
    resource: resource as LedgerViolation['resource'],
    nodeIndex: Number(reply[2]) - 1,
    limit: Number(reply[3]),
    used: Number(reply[4]),
    requested: Number(reply[5]),
  };
}

function decodeNodes(reply: RawReply, offset: number, count: number): NodeReply[] {
  const nodes = new Array<NodeReply>(count);
  for (let i = 0; i < count; i++) {
    const at = offset + i * NODE_WIDTH;
    const startedAt = Number(reply[at + 8]);
    nodes[i] = {
      exists: Number(reply[at]) === 1,
      used: { executions: Number(reply[at + 1]), tokens: Number(reply[at + 2]), costMicros: Number(reply[at + 3]), concurrent: 0 },
      reserved: {
        executions: Number(reply[at + 4]),
        tokens: Number(reply[at + 5]),
        costMicros: Number(reply[at + 6]),
        concurrent: Number(reply[at + 7]),
      },
      startedAt: startedAt >= 0 ? startedAt : undefined,
    };
  }
  return nodes;
}
