import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './helpers/redis-server.js';
import { stopReplicas, useReplicaFixture, type Replica } from './helpers/replicas.js';

/**
 * No overshoot on tokens across processes (issue 11): 4 processes share a Redis quota with an app
 * level (50,000 tokens in all, 20,000 per hour) and a conversation level (3,000 tokens each), and
 * run random nested and parallel agents whose every model call declares its worst case with
 * `run.reserveCall`. Afterwards, read from Redis: no scope and no window is over its limit,
 * nothing is left held, and Redis counted exactly the tokens the processes recorded.
 */

const PROCESSES = 4;
const CONVERSATIONS = 8;
const APP_TOKENS = 50_000;
const APP_TOKENS_PER_HOUR = 20_000;
const CONVERSATION_TOKENS = 3_000;
const LEVELS = [
  { name: 'app', limits: { maxTokens: APP_TOKENS }, windows: [{ per: 'hour', maxTokens: APP_TOKENS_PER_HOUR }] },
  { name: 'conversation', scopeBy: 'conversation', limits: { maxTokens: CONVERSATION_TOKENS }, idleTtlMs: 600_000 },
];
const REPLICA = resolve(ROOT, 'test/e2e/helpers/redis-call-replica.mjs');

interface Recorded {
  tokens: number;
  calls: number;
  refusedCalls: number;
  refusedRuns: number;
  runs: number;
  other: string[];
}

const fixture = useReplicaFixture();

/** Starts one replica of the trial, with its own random seed. */
function startTrialReplica(keyPrefix: string, seed: number): Promise<Replica> {
  return fixture.start(REPLICA, { keyPrefix, levels: LEVELS, seed });
}

describe('model calls held at their worst case on a Redis quota shared by 4 processes', () => {
  it('never take a scope or a window past its token limit, leave nothing held, and count every token once', async () => {
    const keyPrefix = 'calls:';
    const seed = Date.now() % 1_000_000;
    const replicas = await Promise.all(Array.from({ length: PROCESSES }, (_, index) => startTrialReplica(keyPrefix, seed + index)));
    const startAt = Date.now() + 300;
    const results = (await Promise.all(
      replicas.map((replica) => replica.request({ type: 'trial', startAt, roots: 200, conversations: CONVERSATIONS })),
    )) as unknown as Recorded[];
    await stopReplicas(replicas);

    const total = (field: 'tokens' | 'calls' | 'refusedCalls' | 'refusedRuns' | 'runs') => results.reduce((sum, result) => sum + result[field], 0);
    console.log(
      `redis call holds (seed ${seed}): ${total('runs')} runs, ${total('calls')} calls, ${total('refusedCalls')} calls and ${total('refusedRuns')} runs refused, ${total('tokens')} tokens`,
    );
    expect(results.flatMap((result) => result.other)).toEqual([]);
    // The limits were reached, so the trial tested something.
    expect(total('refusedCalls')).toBeGreaterThan(0);

    const tag = `${keyPrefix}{app:global}`;
    const app = await fixture.redis.hgetall(`${tag}:node:app:global`);
    expect(Number(app.ut)).toBe(total('tokens'));
    expect(Number(app.ut)).toBeLessThanOrEqual(APP_TOKENS);
    expect({ rt: app.rt, rk: app.rk }).toEqual({ rt: '0', rk: '0' });

    // The hour window: every bucket at most its limit, nothing held (a trial across the hour has two).
    const hour = await fixture.redis.hgetall(`${tag}:win:hour:node:app:global`);
    const buckets = Object.entries(hour).filter(([field]) => field.endsWith(':ut'));
    expect(buckets.length).toBeGreaterThan(0);
    for (const [field, used] of buckets) expect({ field, used: Math.min(Number(used), APP_TOKENS_PER_HOUR) }).toEqual({ field, used: Number(used) });
    for (const [field, held] of Object.entries(hour).filter(([name]) => name.endsWith(':rt'))) expect({ field, held }).toEqual({ field, held: '0' });

    let conversationTokens = 0;
    for (let index = 0; index < CONVERSATIONS; index++) {
      const conversation = await fixture.redis.hgetall(`${tag}:node:conversation:c${index}`);
      const used = Number(conversation.ut ?? 0);
      conversationTokens += used;
      expect({ conversation: index, used: Math.min(used, CONVERSATION_TOKENS), held: conversation.rt ?? '0' }).toEqual({
        conversation: index,
        used,
        held: '0',
      });
    }
    expect(conversationTokens).toBe(total('tokens'));
  });
});
