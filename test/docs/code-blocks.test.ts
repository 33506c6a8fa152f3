import { beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt } from '../helpers/build.js';
import { docBlocks, matchesComment, runBlock, typeErrors } from '../helpers/doc-blocks.js';

/**
 * The README's and the docs' TypeScript blocks, as a user would paste them: they type-check
 * against the built package, run, and print what their comments say. Blocks that need a Redis
 * server run in the e2e suite.
 */
const blocks = docBlocks();
const needsRedis = (code: string) => code.includes("from 'ioredis'");

describe('code blocks in README.md and docs/', () => {
  beforeAll(ensureBuilt, 300_000);

  it('there are blocks to check, in the README and in docs/', () => {
    expect(blocks.filter((block) => block.where.startsWith('README.md')).length).toBeGreaterThanOrEqual(2);
    expect(blocks.filter((block) => block.where.startsWith('docs/')).length).toBeGreaterThanOrEqual(8);
  });

  // A printed `Quota exceeded` used to pass for `// Quota exceeded: tokens 12000/10000 (scope c-42)`.
  it('a comment says exactly what its console.log prints', () => {
    expect(matchesComment('Quota exceeded: tokens 12000/10000 (scope c-42)', 'Quota exceeded: tokens 12000/10000 (scope c-42)')).toBe(true);
    expect(matchesComment('Quota exceeded', 'Quota exceeded: tokens 12000/10000 (scope c-42)')).toBe(false);
    expect(matchesComment('4', '4: planner, metrics')).toBe(false);
  });

  it('type-check under strict settings against the built package', () => {
    expect(typeErrors(blocks)).toEqual([]);
  }, 120_000);

  it.each(blocks.filter((block) => !needsRedis(block.code)).map((block) => [block.where, block] as const))(
    '%s runs and prints what its comments say',
    async (_where, block) => {
      const printed = await runBlock(block);
      expect(printed).toHaveLength(block.expected.length);
      block.expected.forEach((comment, index) => expect(matchesComment(printed[index]!, comment), `${printed[index]} vs // ${comment}`).toBe(true));
    },
    60_000,
  );
});
