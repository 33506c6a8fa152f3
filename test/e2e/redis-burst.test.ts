import { describe, expect, it } from 'vitest';
import { BURST_SCOPES, BUSY_MS, drainedNode, PROCESSES, runBurst } from './helpers/burst.js';
import { useReplicaFixture } from './helpers/replicas.js';

/**
 * A busy client (issue 15): each of 4 processes launches 8 scopes × 250 runs in one synchronous
 * burst, then blocks its own event loop for longer than `timeoutMs` (a CPU spike). Redis answers
 * in time throughout, so no run may be refused as "store unavailable", every scope must admit
 * exactly min(demand, limit), and nothing may stay reserved.
 */

const fixture = useReplicaFixture();

describe('a busy client sharing a Redis quota', () => {
  it(`admits exactly min(demand, limit) per scope when ${PROCESSES} processes burst and then block their loop for ${BUSY_MS} ms`, async () => {
    const keyPrefix = 'burst:';
    const admitted = await runBurst({ dist: fixture.dist, port: fixture.server.port }, keyPrefix, fixture.children, 'redis burst');

    // Nothing is held any more, and each scope's usage is its admitted runs' usage, counted once.
    const nodes = (await fixture.redis.keys(`${keyPrefix}*:node:*`)).sort();
    expect(nodes).toHaveLength(BURST_SCOPES.length);
    for (const key of nodes) {
      const scope = key.slice(key.lastIndexOf(':') + 1);
      expect({ key, ...(await fixture.redis.hgetall(key)) }).toMatchObject({ key, ...drainedNode(admitted[scope] ?? 0) });
    }
  });
});
