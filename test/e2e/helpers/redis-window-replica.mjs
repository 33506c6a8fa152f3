// One replica of the 4-process window trial (test/e2e/redis-window-trial.test.ts): it starts runs
// at a steady rate in every conversation, under a quota with a global rolling window and a
// per-conversation one, and reports the `now` of every reservation the store decided (what the
// windows count by). Imports the built package (a private build of dist/ passed by the test).
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Redis } from 'ioredis';
import { serve } from '../fixtures/replica-ipc.mjs';

const { dist, port, keyPrefix, levels, leaseTtlMs } = JSON.parse(process.argv[2]);
const { AgentMeter, QuotaExceededError } = await import(pathToFileURL(join(dist, 'index.js')).href);
const { RedisQuotaStore } = await import(pathToFileURL(join(dist, 'redis/index.js')).href);
const redis = new Redis(port, '127.0.0.1');
const store = new RedisQuotaStore({ redis, keyPrefix, leaseTtlMs, timeoutMs: 1_000 });
// Every decision the store made, with the time it decided by; and what has landed in Redis.
const admitted = [];
const denied = [];
const landed = { charges: 0, settlements: 0 };
const recordingStore = {
  name: store.name,
  createNode: (node) => node,
  async reserve(request) {
    const result = await store.reserve(request);
    const scopes = request.nodes.map((node) => node.key);
    if (result.admitted) admitted.push({ now: request.now, scopes });
    else denied.push({ now: request.now, key: result.violation.key, window: result.violation.window });
    return result;
  },
  charge: (lease, usage, now) => store.charge(lease, usage, now).finally(() => (landed.charges += 1)),
  settle: (lease, now) => store.settle(lease, now).finally(() => (landed.settlements += 1)),
  cancel: (lease, now) => store.cancel(lease, now),
  read: (key, now) => store.read(key, now),
  forget: (node) => store.forget(node),
  scopes: () => store.scopes(),
};
const agentmeter = new AgentMeter({ quota: { levels, store: recordingStore } });
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function trial({ startAt, durationMs, everyMs, conversations }) {
  await sleep(Math.max(0, startAt - Date.now()));
  const runs = [];
  const outcomes = {};
  while (Date.now() < startAt + durationMs) {
    for (let i = 0; i < conversations; i++) {
      const run = agentmeter.run({ name: 'researcher', conversationId: `c${i}` }, async (handle) => {
        await sleep(20);
        handle.recordUsage({ inputTokens: 6, outputTokens: 4 });
      });
      runs.push(
        run.then(
          () => 'admitted',
          (error) => (QuotaExceededError.isInstance(error) ? `quota:${error.level}:${error.window}` : String(error?.stack ?? error)),
        ),
      );
    }
    await sleep(everyMs);
  }
  for (const outcome of await Promise.all(runs)) outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
  const deadline = Date.now() + 30_000;
  while ((landed.charges < admitted.length || landed.settlements < admitted.length) && Date.now() < deadline) await sleep(5);
  return { admitted, denied, outcomes, landed };
}

await serve({ trial }, { redis, store });
