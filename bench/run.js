// Benchmarks: ratios measured side by side in one run, interleaved over many rounds.
// Usage: npm run bench   (builds first; `node bench/run.js --quick` for fewer rounds)
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { AgentMeter, semconv } from '../dist/index.js';
// The quota alone, below the public surface: what admission and settlement cost by themselves.
import { Quota } from '../dist/quota/quota.js';
import { createAgentMeter, median, noopMeter, QuietReader, quick } from './harness.mjs';

const ROUNDS = quick ? 7 : 31;

/** Runs `a` and `b` for `iterations` each, alternating which goes first, and returns per-round ratios a/b. */
async function interleave(a, b, iterations) {
  const ratios = [];
  await a(iterations);
  await b(iterations); // warm-up
  for (let round = 0; round < ROUNDS; round++) {
    let timeA;
    let timeB;
    if (round % 2 === 0) {
      timeA = await time(a, iterations);
      timeB = await time(b, iterations);
    } else {
      timeB = await time(b, iterations);
      timeA = await time(a, iterations);
    }
    ratios.push(timeA / timeB);
  }
  return ratios;
}

async function time(work, iterations) {
  const start = process.hrtime.bigint();
  await work(iterations);
  return Number(process.hrtime.bigint() - start) / iterations;
}

function report(label, ratios, target) {
  const line = `${label}: median ${median(ratios).toFixed(3)} (min ${Math.min(...ratios).toFixed(3)}, max ${Math.max(...ratios).toFixed(3)}, ${ratios.length} rounds)`;
  console.log(target === undefined ? line : `${line}  target <= ${target}`);
}

// 1. agentmeter.run around a no-op vs. the same span and instrument records written by hand.
async function coreOverhead() {
  const { agentmeter, tracerProvider, meterProvider } = createAgentMeter();
  const tracer = tracerProvider.getTracer('hand-written');
  const meter = meterProvider.getMeter('hand-written');
  const executions = meter.createCounter('hand.executions');
  const active = meter.createUpDownCounter('hand.active');
  const duration = meter.createHistogram('hand.duration', { advice: { explicitBucketBoundaries: semconv.DURATION_BUCKETS_S } });
  const turns = meter.createHistogram('hand.turns', { advice: { explicitBucketBoundaries: semconv.TURN_BUCKETS } });
  const noop = async () => undefined;

  const handWritten = async (fn) => {
    const start = performance.now();
    const span = tracer.startSpan('invoke_agent researcher', {
      kind: SpanKind.INTERNAL,
      attributes: { 'gen_ai.operation.name': 'invoke_agent', 'gen_ai.agent.name': 'researcher', 'subagent.depth': 0 },
    });
    active.add(1, { 'gen_ai.agent.name': 'researcher', 'subagent.depth': 0 });
    try {
      return await fn();
    } finally {
      const attributes = { 'gen_ai.agent.name': 'researcher', 'subagent.depth': 0, 'subagent.outcome': 'ok' };
      executions.add(1, attributes);
      duration.record((performance.now() - start) / 1000, attributes);
      turns.record(0, { 'gen_ai.agent.name': 'researcher', 'subagent.depth': 0 });
      active.add(-1, { 'gen_ai.agent.name': 'researcher', 'subagent.depth': 0 });
      span.setAttributes({ 'subagent.outcome': 'ok', 'subagent.turns': 0, 'gen_ai.usage.input_tokens': 0, 'gen_ai.usage.output_tokens': 0 });
      span.setStatus({ code: SpanStatusCode.UNSET });
      span.end();
    }
  };
  const bareSpan = async (fn) => {
    const span = tracer.startSpan('invoke_agent researcher', { kind: SpanKind.INTERNAL, attributes: { 'gen_ai.agent.name': 'researcher' } });
    try {
      return await fn();
    } finally {
      span.end();
    }
  };
  const viaAgentmetry = async (iterations) => {
    for (let index = 0; index < iterations; index++) await agentmeter.run('researcher', noop);
  };
  const viaHand = async (iterations) => {
    for (let index = 0; index < iterations; index++) await handWritten(noop);
  };
  const viaBareSpan = async (iterations) => {
    for (let index = 0; index < iterations; index++) await bareSpan(noop);
  };
  report('agentmeter.run / hand-written span + 5 instrument records', await interleave(viaAgentmetry, viaHand, 2000), 1.15);
  report('bare span (no metrics) / hand-written span + 5 instrument records', await interleave(viaBareSpan, viaHand, 2000));
  await tracerProvider.shutdown();
  await meterProvider.shutdown();
}

// 2. Quota admission + settlement: constant in the number of scopes, and cheap next to one counter.add.
async function quotaCost() {
  const limits = { maxTokens: 1e15, maxExecutions: 1e15, maxConcurrent: 1e6 };
  const events = { denied() {}, exceeded() {}, stopped() {}, warned() {} };
  // Admission and settlement alone, through the quota, for S scopes in rotation.
  const direct = (scopes) => {
    const quota = new Quota({ limits, scopeBy: 'conversation' });
    const requests = Array.from({ length: scopes }, (_, index) => ({
      spec: { name: 'r', conversationId: `conversation-${index}`, estimate: { tokens: 10 } },
      depth: 0,
      parent: undefined,
      events,
    }));
    let next = 0;
    return async (iterations) => {
      for (let index = 0; index < iterations; index++) {
        quota.admit(requests[next]).settle();
        next = next + 1 === requests.length ? 0 : next + 1;
      }
    };
  };
  // The same seen from the outside: a run with quota minus a run without, on no-op providers.
  const noProviders = { tracerProvider: trace.getTracerProvider(), meterProvider: { getMeter: () => noopMeter } };
  const noop = async () => undefined;
  const runs = (quota) => {
    const agentmeter = new AgentMeter({ ...noProviders, quota });
    const spec = { name: 'r', conversationId: 'conversation-1', estimate: { tokens: 10 } };
    return async (iterations) => {
      for (let index = 0; index < iterations; index++) await agentmeter.run(spec, noop);
    };
  };
  const many = direct(10_000);
  const few = direct(10);
  await many(10_000); // every scope exists before measuring
  const withQuota = runs({ limits, scopeBy: 'conversation' });
  const withoutQuota = runs(undefined);

  const meterProvider = new MeterProvider({ readers: [new QuietReader()] });
  const counter = meterProvider.getMeter('bench').createCounter('bench.counter');
  let value = 0;
  const counterAdd = async (iterations) => {
    for (let index = 0; index < iterations; index++)
      counter.add(1, { 'gen_ai.agent.name': 'researcher', 'subagent.depth': value++ & 3, 'subagent.outcome': 'ok' });
  };

  const iterations = 20_000;
  const samples = { many: [], few: [], withQuota: [], withoutQuota: [], counterAdd: [] };
  const work = { many, few, withQuota, withoutQuota, counterAdd };
  for (const name of Object.keys(work)) await work[name](iterations);
  for (let round = 0; round < ROUNDS; round++) {
    const names = Object.keys(work);
    if (round % 2 === 1) names.reverse();
    for (const name of names) samples[name].push(await time(work[name], iterations));
  }
  const ratios = (a, b) => a.map((value, index) => value / b[index]);
  report('quota admission + settlement, 10,000 scopes / 10 scopes', ratios(samples.many, samples.few), 1.5);
  report('quota admission + settlement / one SDK counter.add with 3 attributes', ratios(samples.few, samples.counterAdd), 0.5);
  const differential = samples.withQuota.map((value, index) => value - samples.withoutQuota[index]);
  report('  the same, as (run with quota - run without) / counter.add', ratios(differential, samples.counterAdd), 0.5);
  console.log(`  (admission + settlement ≈ ${median(samples.few).toFixed(0)} ns, counter.add ≈ ${median(samples.counterAdd).toFixed(0)} ns here)`);
  await meterProvider.shutdown();

  const capped = new AgentMeter({ ...noProviders, quota: { limits: { maxExecutions: 1000 } } });
  const settled = await Promise.allSettled(Array.from({ length: 10_000 }, () => capped.run('r', () => new Promise((resolve) => setImmediate(resolve)))));
  const admitted = settled.filter((result) => result.status === 'fulfilled').length;
  console.log(`10,000 concurrent runs against maxExecutions 1000: ${admitted} admitted (must be 1000)`);
}

console.log(`agentmetry benchmarks (Node ${process.version}; ratios of per-operation times measured in the same run)`);
await coreOverhead();
await quotaCost();
spawnSync(process.execPath, [new URL('./semconv.mjs', import.meta.url).pathname, ...(quick ? ['--quick'] : [])], { stdio: 'inherit' });
const soak = spawnSync(process.execPath, ['--expose-gc', new URL('./soak.mjs', import.meta.url).pathname, ...(quick ? ['--quick'] : [])], { stdio: 'inherit' });
if (soak.status !== 0) console.log(`soak exited with ${soak.status}`);
const budgets = spawnSync(process.execPath, ['--expose-gc', new URL('./budgets.mjs', import.meta.url).pathname, ...(quick ? ['--quick'] : [])], {
  stdio: 'inherit',
});
if (budgets.status !== 0) console.log(`budgets benchmark exited with ${budgets.status}`);
const redisBench = new URL('./redis.mjs', import.meta.url);
if (existsSync(redisBench)) {
  const result = spawnSync(process.execPath, [redisBench.pathname, ...(quick ? ['--quick'] : [])], { stdio: 'inherit' });
  if (result.status !== 0) console.log(`redis benchmark exited with ${result.status}`);
}
const adapters = spawnSync(process.execPath, [new URL('./adapters.mjs', import.meta.url).pathname, ...(quick ? ['--quick'] : [])], { stdio: 'inherit' });
if (adapters.status !== 0) console.log(`adapter benchmarks exited with ${adapters.status}`);
