// Budgets a service runs for months (issue 11): bounded memory with one scope per conversation,
// and what layered levels cost at admission. Run with --expose-gc (bench/run.js does);
// `--quick` runs 200k conversations instead of 1M.
//
// The clock: Date.now() is replaced in this process by a simulated clock that moves 2.592 s per
// run, so that 1,000,000 runs span 30 days: a million conversations a month, the load the issue
// names. With hourly windows a conversation's scope is due for eviction when its hour closes,
// so about 1,400 scopes are alive at any time, as in a live service; on the real clock no hour
// would close during the run and nothing would be forgotten. The quota reads time only through
// Date.now(), so the simulated clock is the one it enforces and evicts by.
import { AgentMeter } from '../dist/index.js';
// The quota alone, below the public surface: what admission and settlement cost by themselves.
import { Quota } from '../dist/quota/quota.js';
import { createAgentMeter, heapMb, median, noProviders, quick } from './harness.mjs';

const CONVERSATIONS = quick ? 200_000 : 1_000_000;
const PER_ROUND = 5_000;
const ROUNDS = CONVERSATIONS / PER_ROUND;
const HEAP_BUDGET_MB = 50;
const MONTH_MS = 30 * 86_400_000;
const STEP_MS = MONTH_MS / 1_000_000;

let clock = Date.parse('2026-01-01T00:00:00Z');
Date.now = () => clock;

function summary(ratios) {
  return `median of the rounds' ratios ${median(ratios).toFixed(3)} (min ${Math.min(...ratios).toFixed(3)}, max ${Math.max(...ratios).toFixed(3)}, ${ratios.length} rounds)`;
}

/** Runs each named workload `iterations` times per round, alternating the order, and returns ns per operation per round. */
async function alternate(work, rounds, iterations, afterRound = () => {}) {
  const samples = Object.fromEntries(Object.keys(work).map((name) => [name, []]));
  for (let round = 0; round < rounds; round++) {
    const names = Object.keys(work);
    if (round % 2 === 1) names.reverse();
    for (const name of names) {
      const start = process.hrtime.bigint();
      await work[name](iterations);
      samples[name].push(Number(process.hrtime.bigint() - start) / iterations);
    }
    afterRound(round);
  }
  return samples;
}

const ratios = (a, b) => a.map((value, index) => value / b[index]);
const noop = async () => undefined;

// 1. One million distinct conversations through run(), each its own scope with hourly windows,
//    against the same runs in one global scope with the same limits (which no run reaches).
async function conversations() {
  const quota = (scopeBy) => ({ scopeBy, windows: [{ per: 'hour', maxExecutions: 10_000_000, maxTokens: 1_000_000_000 }] });
  const perConversation = new AgentMeter({ ...noProviders, quota: quota('conversation') });
  const oneScope = new AgentMeter({ ...noProviders, quota: quota('global') });
  let conversation = 0;
  const work = {
    conversation: async (iterations) => {
      for (let index = 0; index < iterations; index++) {
        clock += STEP_MS;
        await perConversation.run({ name: 'researcher', conversationId: `conversation-${conversation++}`, estimate: { tokens: 10 } }, noop);
      }
    },
    global: async (iterations) => {
      for (let index = 0; index < iterations; index++) {
        clock += STEP_MS;
        await oneScope.run({ name: 'researcher', conversationId: 'conversation-x', estimate: { tokens: 10 } }, noop);
      }
    },
  };
  const baseline = heapMb();
  let peak = baseline;
  const heaps = [];
  // The heap only at five checkpoints: a forced full GC slows the rounds after it many times over
  // (measured: 3.7 µs per run without, 31 µs with one before every round), which would hide the ratio.
  const samples = await alternate(work, ROUNDS, PER_ROUND, (round) => {
    if ((round + 1) % (ROUNDS / 5) !== 0) return;
    const heap = heapMb();
    peak = Math.max(peak, heap);
    heaps.push(`${((round + 1) * PER_ROUND) / 1000}k → ${heap.toFixed(1)} MB`);
  });
  const scopes = perConversation.quota.snapshot('conversation-0').executions.used === 0 ? 'forgotten' : 'still held';
  console.log(
    `${conversation.toLocaleString('en-US')} distinct conversations through run() (scopeBy 'conversation', windows [{ per: 'hour' }], simulated clock ${STEP_MS} ms per run = ${((conversation * STEP_MS) / 86_400_000).toFixed(1)} days):`,
  );
  console.log(
    `  heap after GC ${baseline.toFixed(1)} MB → ${heaps.join(', ')}; peak ${peak.toFixed(1)} MB, budget ${HEAP_BUDGET_MB} MB ${peak < HEAP_BUDGET_MB ? 'ok' : 'OVER'}; the first conversation's scope: ${scopes}`,
  );
  // The first round of each warms up (JIT, the first hour's scopes): left out of the ratio.
  const conversationNs = samples.conversation.slice(1);
  const globalNs = samples.global.slice(1);
  console.log(
    `  per run: one scope per conversation ${median(conversationNs).toFixed(0)} ns, one global scope ${median(globalNs).toFixed(0)} ns; ratio ${summary(ratios(conversationNs, globalNs))}  target <= 1.2`,
  );
}

// 1b. The same comparison with the OpenTelemetry SDK behind agentmetry, as an app runs it (spans
//     batched to an exporter that drops them, metrics to a reader): the per-run cost users see.
async function conversationsWithSdk() {
  const quota = (scopeBy) => ({ scopeBy, windows: [{ per: 'hour', maxExecutions: 10_000_000, maxTokens: 1_000_000_000 }] });
  const perConversation = createAgentMeter({ quota: quota('conversation') }).agentmeter;
  const oneScope = createAgentMeter({ quota: quota('global') }).agentmeter;
  let conversation = 0;
  const work = {
    conversation: async (iterations) => {
      for (let index = 0; index < iterations; index++) {
        clock += STEP_MS;
        await perConversation.run({ name: 'researcher', conversationId: `sdk-conversation-${conversation++}`, estimate: { tokens: 10 } }, noop);
      }
    },
    global: async (iterations) => {
      for (let index = 0; index < iterations; index++) {
        clock += STEP_MS;
        await oneScope.run({ name: 'researcher', conversationId: 'conversation-x', estimate: { tokens: 10 } }, noop);
      }
    },
  };
  const samples = await alternate(work, quick ? 11 : 41, 2_000);
  const conversationNs = samples.conversation.slice(1);
  const globalNs = samples.global.slice(1);
  console.log(
    `  the same with the OpenTelemetry SDK behind it (${conversation.toLocaleString('en-US')} conversations): ${median(conversationNs).toFixed(0)} ns / ${median(globalNs).toFixed(0)} ns per run; ratio ${summary(ratios(conversationNs, globalNs))}  target <= 1.2`,
  );
}

// 2. Admission with three levels (global, tenant, conversation) against one (global), same clock.
async function levels() {
  const global = { name: 'global', windows: [{ per: 'month', maxCostUsd: 1_000_000 }] };
  const threeLevels = [
    global,
    { name: 'tenant', scopeBy: (spec) => spec.attributes.tenant, windows: [{ per: 'day', timeZone: 'Europe/Paris', maxTokens: 1e12 }] },
    { name: 'conversation', scopeBy: 'conversation', windows: [{ per: 'hour', maxExecutions: 1e9 }] },
  ];
  const events = { denied() {}, exceeded() {}, stopped() {}, warned() {} };
  const tenants = Array.from({ length: 100 }, (_, index) => ({ tenant: `tenant-${index}` }));
  let conversation = 0;
  const spec = () => ({
    name: 'researcher',
    conversationId: `conversation-${conversation++}`,
    attributes: tenants[conversation % tenants.length],
    estimate: { tokens: 10, costUsd: 0.001 },
  });
  const admitSettle = (levels) => {
    const quota = new Quota({ levels });
    return async (iterations) => {
      for (let index = 0; index < iterations; index++) {
        clock += STEP_MS;
        quota.admit({ spec: spec(), depth: 0, parent: undefined, events }).settle();
      }
    };
  };
  const throughRun = (levels) => {
    const agentmeter = new AgentMeter({ ...noProviders, quota: { levels } });
    return async (iterations) => {
      for (let index = 0; index < iterations; index++) {
        clock += STEP_MS;
        await agentmeter.run(spec(), noop);
      }
    };
  };
  const iterations = 5_000;
  const rounds = quick ? 21 : 61;
  const admission = await alternate({ three: admitSettle(threeLevels), one: admitSettle([global]) }, rounds, iterations);
  const runs = await alternate({ three: throughRun(threeLevels), one: throughRun([global]) }, rounds, iterations);
  console.log(
    `three levels (global month $, tenant day tokens in Europe/Paris over 100 tenants, conversation hour executions, a new conversation every run) / one level (global):`,
  );
  console.log(
    `  quota admission + settlement: ${median(admission.three.slice(1)).toFixed(0)} ns / ${median(admission.one.slice(1)).toFixed(0)} ns, ratio ${summary(ratios(admission.three.slice(1), admission.one.slice(1)))}`,
  );
  console.log(
    `  agentmeter.run (no-op providers): ${median(runs.three.slice(1)).toFixed(0)} ns / ${median(runs.one.slice(1)).toFixed(0)} ns, ratio ${summary(ratios(runs.three.slice(1), runs.one.slice(1)))}`,
  );
}

await conversations();
await conversationsWithSdk();
await levels();
