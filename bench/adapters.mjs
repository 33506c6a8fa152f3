// What each framework adapter adds to one framework call: every bench/adapters/<framework>.mjs runs
// the same offline call (a parent agent delegating to a subagent, the framework's own mock model,
// its own telemetry off) with and without the adapter installed, alternating A and B rounds in one
// process, and prints one JSON line per measured call. This runs them one after another and prints
// the table. Usage: node bench/adapters.mjs [--quick]   (imports the built package: npm run build first)
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';

const quick = process.argv.includes('--quick');
const directory = new URL('./adapters/', import.meta.url);
const rows = [];
for (const file of readdirSync(directory)
  .filter((name) => name.endsWith('.mjs'))
  .sort()) {
  const result = spawnSync(process.execPath, [new URL(file, directory).pathname, ...(quick ? ['--quick'] : [])], { encoding: 'utf8', timeout: 900_000 });
  const lines = result.stdout
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.startsWith('{'));
  if (result.status !== 0 || lines.length === 0) {
    rows.push({ framework: file, failed: `exit ${result.status ?? result.signal}: ${result.stderr.trim().split('\n').slice(-3).join(' | ')}` });
    continue;
  }
  for (const line of lines) rows.push(JSON.parse(line));
}

console.log('\nadapter overhead per framework call (the same call with the adapter / without it, alternating rounds in one process):');
const width = Math.max(...rows.map((row) => row.framework.length));
for (const row of rows) {
  const label = row.framework.padEnd(width);
  if (row.failed !== undefined) {
    console.log(`  ${label}  FAILED (${row.failed})`);
    continue;
  }
  const extra = row.adapterUsPerCall - row.baselineUsPerCall;
  console.log(
    `  ${label}  ratio ${row.ratio.toFixed(3)}  (${row.baselineUsPerCall.toFixed(0)} µs without, ${row.adapterUsPerCall.toFixed(0)} µs with: ${extra >= 0 ? '+' : ''}${extra.toFixed(0)} µs per call)`,
  );
  console.log(`  ${' '.repeat(width)}  call: ${row.call}`);
  if (row.note !== undefined) console.log(`  ${' '.repeat(width)}  note: ${row.note}`);
}
