import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt } from '../helpers/build.js';
import { docBlocks, matchesComment, runBlock } from '../helpers/doc-blocks.js';
import { startRedisServer, type RedisServer } from './helpers/redis-server.js';

/** The docs' blocks that need a Redis server run here, against a real one (REDIS_URL). */
const blocks = docBlocks().filter((block) => block.code.includes("from 'ioredis'"));
let server: RedisServer;

beforeAll(async () => {
  await ensureBuilt();
  server = await startRedisServer();
}, 300_000);

afterAll(async () => {
  // Unset if beforeAll failed before starting it.
  await (server as RedisServer | undefined)?.stop();
});

describe('code blocks that use Redis', () => {
  it('there is at least one (the Redis store page)', () => {
    expect(blocks.map((block) => block.where.split(':')[0])).toContain('docs/redis-store.md');
  });

  it.each(blocks.map((block) => [block.where, block] as const))('%s runs against a real redis-server', async (_where, block) => {
    const printed = await runBlock(block, { REDIS_URL: `redis://127.0.0.1:${server.port}` });
    expect(printed).toHaveLength(block.expected.length);
    block.expected.forEach((comment, index) => expect(matchesComment(printed[index]!, comment), `${printed[index]} vs // ${comment}`).toBe(true));
  });
});
