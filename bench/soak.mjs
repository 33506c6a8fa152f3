// Soak: heap after many runs under a wall-time limit, which arms a deadline for every run.
// Run with --expose-gc (bench/run.js does); `--quick` runs 200k instead of 1M.
import { AgentMeter } from '../dist/index.js';
import { heapMb, noProviders, quick } from './harness.mjs';

const RUNS = quick ? 200_000 : 1_000_000;
const STEP = RUNS / 5;
const DAY_MS = 86_400_000;

const agentmeter = new AgentMeter({ ...noProviders, quota: { limits: { maxWallTimeMs: DAY_MS, maxDurationMsPerRun: DAY_MS } } });
const CONCURRENCY = 50;
// One millisecond each: runs spread over many milliseconds, as in a live app (a timer per run would have a new length every millisecond).
const step = () => new Promise((resolve) => setTimeout(resolve, 1));
/** `count` runs, `CONCURRENCY` at a time, each lasting a millisecond. */
async function runMany(count) {
  for (let done = 0; done < count; done += CONCURRENCY) {
    await Promise.all(Array.from({ length: CONCURRENCY }, () => agentmeter.run('researcher', step)));
  }
}
// Settle the first allocations (scope, instruments, caches) before the baseline.
await runMany(10_000);
const baseline = heapMb();
const started = performance.now();
const line = [`heap after runs under maxWallTimeMs (1 day), ${CONCURRENCY} at a time: 0 → ${baseline.toFixed(1)} MB`];
let peak = baseline;
for (let done = STEP; done <= RUNS; done += STEP) {
  await runMany(STEP);
  const heap = heapMb();
  peak = Math.max(peak, heap);
  line.push(`${done / 1000}k → ${heap.toFixed(1)} MB`);
}
console.log(line.join(', '));
console.log(
  `  growth over ${RUNS / 1000}k runs in ${((performance.now() - started) / 1000).toFixed(0)} s: ${(peak - baseline).toFixed(2)} MB (flat means within 2 MB)`,
);
