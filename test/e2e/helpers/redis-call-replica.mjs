// One replica of the 4-process no-overshoot trial (test/e2e/redis-call-holds.test.ts): random
// nested and parallel agent runs whose every model call declares its worst case with
// run.reserveCall and settles to a smaller actual usage, under a Redis quota with an app level
// (lifetime tokens and tokens per hour) and a conversation level. Reports what it recorded.
// Imports the built package (a private build of dist/ passed by the test).
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Redis } from 'ioredis';
import { serve } from '../fixtures/replica-ipc.mjs';

const { dist, port, keyPrefix, levels, seed } = JSON.parse(process.argv[2]);
const { AgentMeter, QuotaExceededError } = await import(pathToFileURL(join(dist, 'index.js')).href);
const { RedisQuotaStore } = await import(pathToFileURL(join(dist, 'redis/index.js')).href);
const redis = new Redis(port, '127.0.0.1');
const store = new RedisQuotaStore({ redis, keyPrefix, timeoutMs: 2_000 });
const agentmeter = new AgentMeter({ quota: { levels, store } });
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// A small seeded generator (mulberry32), so that a failing trial can be replayed.
let state = seed >>> 0;
const random = () => {
  state = (state + 0x6d2b79f5) >>> 0;
  let t = state;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
};
const between = (low, high) => low + Math.floor(random() * (high - low + 1));

const recorded = { tokens: 0, calls: 0, refusedCalls: 0, refusedRuns: 0, runs: 0, other: [] };

/** One agent: a few model calls, each held at its worst case first, and up to two children in parallel. */
async function agent(spec, depth) {
  try {
    await agentmeter.run(spec, async (run) => {
      recorded.runs += 1;
      const children = depth < 2 ? Array.from({ length: between(0, 2) }, (_, index) => agent({ name: `${spec.name}.${index}` }, depth + 1)) : [];
      const calls = (async () => {
        for (let index = between(1, 3); index > 0; index--) {
          const inputTokens = between(50, 300);
          const maxOutputTokens = between(50, 400);
          let call;
          try {
            call = await run.reserveCall({ inputTokens, maxOutputTokens });
          } catch (error) {
            if (QuotaExceededError.isInstance(error)) recorded.refusedCalls += 1;
            throw error;
          }
          await sleep(between(0, 5));
          const outputTokens = between(0, maxOutputTokens);
          recorded.tokens += inputTokens + outputTokens;
          recorded.calls += 1;
          call.settle({ inputTokens, outputTokens });
        }
      })();
      const results = await Promise.allSettled([calls, ...children]);
      const failed = results.find((result) => result.status === 'rejected');
      if (failed !== undefined) throw failed.reason;
    });
  } catch (error) {
    if (!QuotaExceededError.isInstance(error)) recorded.other.push(String(error?.stack ?? error));
    else if (depth === 0) recorded.refusedRuns += 1;
  }
}

async function trial({ startAt, roots, conversations }) {
  await sleep(Math.max(0, startAt - Date.now()));
  const work = [];
  for (let index = 0; index < roots; index++) {
    work.push(agent({ name: 'orchestrator', conversationId: `c${between(0, conversations - 1)}` }, 0));
    if (index % 8 === 7) await sleep(1);
  }
  await Promise.all(work);
  // Charges, releases and settlements are sent without awaiting: give them time to land.
  await sleep(500);
  return recorded;
}

await serve({ trial }, { redis, store });
