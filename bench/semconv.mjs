// What each metric family costs: agentmeter.run with one turn and one tool call, recorded as
// `metrics: 'subagent'` (the default), `'gen_ai'` and `'both'`, side by side in one process.
// Usage: node bench/semconv.mjs [--quick]   (imports the built package: npm run build first)
import { createAgentMeter, median, quick } from './harness.mjs';

const ROUNDS = quick ? 7 : 31;
const ITERATIONS = quick ? 2_000 : 10_000;
const FAMILIES = ['subagent', 'gen_ai', 'both'];

/** One AgentMeter per family, each with its own providers, so no family shares instruments with another. */
function meterFor(metrics) {
  const { agentmeter, reader } = createAgentMeter({ metrics });
  const work = async (run) => {
    run.recordTurn();
    run.recordToolCall({ name: 'search', durationMs: 1.5, type: 'function' });
  };
  return {
    reader,
    async calls(iterations) {
      for (let index = 0; index < iterations; index++) await agentmeter.run('researcher', work);
    },
  };
}

async function time(meter, iterations) {
  const start = process.hrtime.bigint();
  await meter.calls(iterations);
  return Number(process.hrtime.bigint() - start) / iterations / 1000;
}

const meters = Object.fromEntries(FAMILIES.map((family) => [family, meterFor(family)]));
for (const family of FAMILIES) await meters[family].calls(ITERATIONS); // warm-up

// Each round times every family once, in an order that rotates, so drift and GC spread evenly.
const perCall = Object.fromEntries(FAMILIES.map((family) => [family, []]));
const ratios = { gen_ai: [], both: [] };
for (let round = 0; round < ROUNDS; round++) {
  const times = {};
  for (let step = 0; step < FAMILIES.length; step++) {
    const family = FAMILIES[(round + step) % FAMILIES.length];
    times[family] = await time(meters[family], ITERATIONS);
  }
  for (const family of FAMILIES) perCall[family].push(times[family]);
  ratios.gen_ai.push(times.gen_ai / times.subagent);
  ratios.both.push(times.both / times.subagent);
  // Collect now and then, as a reader would, so histogram state does not just pile up.
  for (const family of FAMILIES) await meters[family].reader.collect();
}

const format = (values) => `median ${median(values).toFixed(3)} (min ${Math.min(...values).toFixed(3)}, max ${Math.max(...values).toFixed(3)})`;
console.log(`metric families: agentmeter.run with one turn and one tool call, ${ROUNDS} rounds of ${ITERATIONS} runs each`);
for (const family of FAMILIES) console.log(`  metrics: '${family}': ${median(perCall[family]).toFixed(2)} µs per run (median of rounds)`);
console.log(`  'gen_ai' / 'subagent': ${format(ratios.gen_ai)}`);
console.log(`  'both' / 'subagent': ${format(ratios.both)}`);
