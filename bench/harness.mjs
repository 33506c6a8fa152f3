// What the benchmarks share: the `--quick` flag, OpenTelemetry SDK providers exporting nowhere (as
// an app sets them up) or no-op providers, the heap after a full collection, the A/B alternation
// of bench/adapters/*.mjs and the one JSON line each of those prints. Imports the built package
// (npm run build first). Not in bench/adapters/, which bench/adapters.mjs runs file by file.
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { BatchSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { AgentMeter } from '../dist/index.js';

export const quick = process.argv.includes('--quick');

/** A metric reader that keeps what it collects to itself. */
export class QuietReader extends MetricReader {
  async onShutdown() {}
  async onForceFlush() {}
}
export const noopExporter = { export: (_spans, done) => done({ code: 0 }), shutdown: async () => {} };

/** A tracer provider with a batch processor exporting nowhere, and a meter provider with a QuietReader. */
export function sdkProviders() {
  const tracerProvider = new TracerProvider({ spanProcessors: [new BatchSpanProcessor({ exporter: noopExporter, maxQueueSize: 100_000 })] });
  const reader = new QuietReader();
  return { tracerProvider, meterProvider: new MeterProvider({ readers: [reader] }), reader };
}

/** An AgentMeter as an app sets it up, on sdkProviders(); `options` are added to its own. */
export function createAgentMeter(options = {}) {
  const providers = sdkProviders();
  const { tracerProvider, meterProvider } = providers;
  return { agentmeter: new AgentMeter({ tracerProvider, meterProvider, ...options }), ...providers };
}

const noopInstrument = { add() {}, record() {}, addCallback() {}, removeCallback() {} };
/** A meter whose every instrument does nothing. */
export const noopMeter = new Proxy(
  {},
  { get: (_target, property) => (property === 'addBatchObservableCallback' || property === 'removeBatchObservableCallback' ? () => {} : () => noopInstrument) },
);
const noopSpan = {
  setAttribute() {},
  setAttributes() {},
  addEvent() {},
  setStatus() {},
  recordException() {},
  end() {},
  isRecording: () => false,
  spanContext: () => ({}),
};
/** No-op providers: what is left is agentmetry's own work. */
export const noProviders = { meterProvider: { getMeter: () => noopMeter }, tracerProvider: { getTracer: () => ({ startSpan: () => noopSpan }) } };

/** The heap in use after two full collections, in MB (node --expose-gc). */
export function heapMb() {
  globalThis.gc();
  globalThis.gc();
  return process.memoryUsage().heapUsed / 1_048_576;
}

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/**
 * Calls `run(side, true)` once per side as a warm-up, then `run(side, false)` for every side in
 * each of `rounds` rounds, the order rotating round by round (A B, B A, ... for two sides).
 */
export async function alternate(sides, rounds, run) {
  for (const side of sides) await run(side, true);
  for (let round = 0; round < rounds; round++) {
    for (let step = 0; step < sides.length; step++) await run(sides[(round + step) % sides.length], false);
  }
}

/**
 * Alternates the sides (each `async (calls) => elapsed ns`) over `rounds` rounds of `calls` calls
 * after a warm-up of `calls` on each, and returns each side's mean µs per call.
 */
export async function measure(sides, { rounds, calls }) {
  const total = Object.fromEntries(Object.keys(sides).map((side) => [side, 0n]));
  await alternate(Object.keys(sides), rounds, async (side, warmUp) => {
    const elapsed = await sides[side](calls);
    if (!warmUp) total[side] += elapsed;
  });
  return Object.fromEntries(Object.entries(total).map(([side, nanos]) => [side, Number(nanos) / 1000 / (rounds * calls)]));
}

/** Awaits `call()` `calls` times in a row; resolves the elapsed ns. */
export async function timeCalls(call, calls) {
  const start = process.hrtime.bigint();
  for (let index = 0; index < calls; index++) await call();
  return process.hrtime.bigint() - start;
}

/** Collects `reader` and checks that the adapter recorded every call: a parent's run and its subagent's. */
export async function expectTwoRunsPerCall(agentmeter, reader, calls) {
  await reader.collect();
  const recorded = agentmeter.totals().executions.ok;
  if (recorded !== 2 * calls) throw new Error(`the adapter recorded ${recorded} runs for ${calls} calls, expected ${2 * calls}`);
}

/**
 * The two sides of a benchmark where only the adapter differs: `baseline` times the call that
 * `createCall()` returns; `adapter` times a new one with the adapter installed by
 * `install(agentmeter)` (which returns its uninstall function), then checks two runs per call.
 */
export function adapterSides(createCall, install) {
  return {
    async baseline(calls) {
      return timeCalls(createCall(), calls);
    },
    async adapter(calls) {
      const { agentmeter, reader } = createAgentMeter();
      const uninstall = install(agentmeter);
      const call = createCall();
      const elapsed = await timeCalls(call, calls);
      uninstall();
      await expectTwoRunsPerCall(agentmeter, reader, calls);
      return elapsed;
    },
  };
}

/** The installed version of package `name`, or 'unknown'. */
export function frameworkVersion(name) {
  const require = createRequire(import.meta.url);
  for (let directory = dirname(require.resolve(name)); directory !== dirname(directory); directory = dirname(directory)) {
    try {
      const manifest = JSON.parse(readFileSync(join(directory, 'package.json'), 'utf8'));
      if (manifest.name === name) return manifest.version;
    } catch {
      // not this directory
    }
  }
  return 'unknown';
}

/** Prints an adapter benchmark's JSON line: the µs per call of each side to 0.1 µs, their ratio to 0.001, then `extra`'s fields. */
export function printResult({ framework, call, baselineUsPerCall, adapterUsPerCall, ...extra }) {
  console.log(
    JSON.stringify({
      framework,
      call,
      baselineUsPerCall: Number(baselineUsPerCall.toFixed(1)),
      adapterUsPerCall: Number(adapterUsPerCall.toFixed(1)),
      ratio: Number((adapterUsPerCall / baselineUsPerCall).toFixed(3)),
      ...extra,
    }),
  );
}
