// Redis quota store benchmark: admissions per second across 4 processes, and Redis round trips
// per admission, per settlement and per run. Round trips are counted with MONITOR in a separate
// phase (MONITOR slows Redis down): every command a client sent, not the ones a script ran.
// Then the fleet section (bench/redis-fleet.mjs): 1, 4 and 8 processes, this redis-server
// against a 3-primary, 3-replica Redis Cluster, side by side.
// Usage: node bench/redis.mjs [--quick]   (needs `npm run build` and redis-server on PATH;
// it starts its own redis-server on a loopback port, and a cluster for the fleet section when
// redis-cli is there too, and stops them at the end)
import { fork, spawn, execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { AgentMeter } from '../dist/index.js';
import { RedisQuotaStore } from '../dist/redis/index.js';
import { fleet } from './redis-fleet.mjs';
import { all, freePort, nextMessage } from './processes.mjs';

const PROCESSES = 4;
const IN_FLIGHT = 32;
const quick = process.argv.includes('--quick');
/** Late grants: Redis paused longer than timeoutMs, shorter than timeoutMs + the 1 s clock tolerance. */
const LATE = { count: 50, timeoutMs: 300, pauseMs: 1_000 };
/** The burst of issue 15: every run started in one synchronous loop, then (second pass) a CPU spike. */
const BURST = { scopes: 8, runsPerScope: 250, busyMs: 1_500, timeoutMs: 500 };
const PER_PROCESS = quick ? 2_000 : 10_000;
const COUNTED_PER_PROCESS = quick ? 250 : 1_000;
const LIMITS = { maxConcurrent: 1_000_000, maxTokens: 1_000_000_000_000 };
const ROOT = { key: 'global', limits: { concurrent: 1_000_000, tokens: 1_000_000_000_000 }, ephemeral: false };
const LATE_ROOT = { key: 'late', limits: { executions: 1_000_000 }, ephemeral: false };

if (process.argv[2] === '--worker') await worker(JSON.parse(process.argv[3]));
else await main();

async function main() {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' });
  } catch {
    console.log('redis: skipped, redis-server is not installed (scripts/ensure-tools.sh or apt-get install -y redis-server)');
    return;
  }
  const port = await freePort();
  const server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--loglevel', 'warning'], {
    stdio: 'ignore',
  });
  const workers = [];
  const cleanup = () => {
    for (const child of workers) child.kill('SIGKILL');
    server.kill('SIGKILL');
  };
  process.once('exit', cleanup);
  for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => process.exit(130));

  const admin = new Redis(port, '127.0.0.1', { retryStrategy: (times) => (times > 100 ? null : 50) });
  admin.on('error', () => {}); // reported through the commands that fail
  try {
    await admin.ping();
    for (let i = 0; i < PROCESSES; i++) workers.push(await startWorker(port));

    await all(workers, { type: 'warm-up' }); // loads the scripts (EVALSHA falls back to EVAL once per script)

    const total = PROCESSES * PER_PROCESS;
    const admitSeconds = await timed(() => all(workers, { type: 'reserve', count: PER_PROCESS }));
    await all(workers, { type: 'settle' });
    const runSeconds = await timed(() => all(workers, { type: 'run', count: PER_PROCESS }));

    const counted = PROCESSES * COUNTED_PER_PROCESS;
    const admissions = await roundTrips(admin, () => all(workers, { type: 'reserve', count: COUNTED_PER_PROCESS }));
    const settlements = await roundTrips(admin, () => all(workers, { type: 'settle' }));
    const runs = await roundTrips(admin, () => all(workers, { type: 'run', count: COUNTED_PER_PROCESS }));

    console.log(
      `redis: admissions per second across ${PROCESSES} processes: ${Math.round(total / admitSeconds)} ` +
        `(${PROCESSES} × ${PER_PROCESS} reservations, ${IN_FLIGHT} in flight per process, loopback redis-server ${redisVersion(port)})`,
    );
    console.log(`redis: agentmeter.run (admission + settlement) per second across ${PROCESSES} processes: ${Math.round(total / runSeconds)}`);
    console.log(`redis: round trips per admission: ${format(admissions, counted)}`);
    console.log(`redis: round trips per settlement: ${format(settlements, counted)}`);
    console.log(`redis: round trips per agentmeter.run: ${format(runs, counted)}`);
    for (const busyMs of [0, BURST.busyMs]) {
      const startAt = Date.now() + 300;
      const results = await all(workers, { type: 'burst', scopes: BURST.scopes, runsPerScope: BURST.runsPerScope, busyMs, startAt });
      const latencies = results.flatMap((result) => result.latencies).sort((a, b) => a - b);
      const admitted = results.reduce((sum, result) => sum + result.admitted, 0);
      const refused = {};
      for (const result of results) for (const [name, count] of Object.entries(result.refused)) refused[name] = (refused[name] ?? 0) + count;
      const seconds = Math.max(...results.map((result) => result.endedAt)) / 1000 - startAt / 1000;
      const spike = busyMs > 0 ? `, then each event loop blocked ${busyMs} ms (timeoutMs ${BURST.timeoutMs})` : '';
      console.log(
        `redis: burst of ${PROCESSES} processes × ${BURST.scopes} scopes × ${BURST.runsPerScope} runs started synchronously${spike}: ` +
          `${Math.round(admitted / seconds)} admissions per second, p50 ${percentile(latencies, 0.5)} ms, p99 ${percentile(latencies, 0.99)} ms ` +
          `admission latency (run() called → decided), refused: ${JSON.stringify(refused)}`,
      );
    }
    const windows = await lateGrantWindows(admin, workers[0]);
    console.log(
      `redis: a reservation granted after its caller gave up (Redis paused ${LATE.pauseMs} ms, timeoutMs ${LATE.timeoutMs}) held budget ` +
        `${percentile(windows, 0.5)} ms at p50, ${percentile(windows, 1)} ms at most, until its cancellation landed (${windows.length} of ${LATE.count} measured)`,
    );
    const cpu = await admin.info('cpu');
    const redisCpu = Number(cpu.match(/used_cpu_user:([\d.]+)/)?.[1]) + Number(cpu.match(/used_cpu_sys:([\d.]+)/)?.[1]);
    console.log(`redis: redis-server CPU over the whole benchmark: ${redisCpu.toFixed(2)} s`);
    const scope = await admin.hgetall('bench:{global}:node:global');
    if (scope.re !== '0' || scope.rk !== '0') throw new Error(`leaked reservations after the benchmark: ${JSON.stringify(scope)}`);
    const exited = workers.map((child) => new Promise((resolve) => child.once('exit', resolve)));
    await all(workers, { type: 'exit' });
    await Promise.all(exited);
    await fleet({ port, quick });
  } finally {
    admin.disconnect();
    cleanup();
  }
}

async function timed(work) {
  const start = process.hrtime.bigint();
  await work();
  return Number(process.hrtime.bigint() - start) / 1e9;
}

/**
 * Counts the commands clients send while `work` runs, by name, with MONITOR. Commands that a Lua
 * script runs inside Redis are reported with source `lua` and are not round trips.
 */
async function roundTrips(admin, work) {
  const monitor = await admin.monitor();
  const byCommand = new Map();
  monitor.on('monitor', (_time, args, source) => {
    if (source === 'lua') return;
    const name = String(args[0]).toLowerCase();
    byCommand.set(name, (byCommand.get(name) ?? 0) + 1);
  });
  // MONITOR streams what Redis executed; a PING from another client marks where the work ended.
  await new Promise((resolve) => setTimeout(resolve, 50));
  await work();
  await admin.ping();
  await new Promise((resolve) => setTimeout(resolve, 200));
  monitor.disconnect();
  byCommand.set('ping', (byCommand.get('ping') ?? 0) - 1);
  if (byCommand.get('ping') === 0) byCommand.delete('ping');
  return byCommand;
}

/**
 * The window in which a late grant holds budget: Redis is paused past the callers' timeoutMs but
 * within their deadline's clock tolerance, so it grants reservations whose callers gave up; MONITOR
 * times each grant and the cancellation that gives it back (Redis's clock, both).
 */
async function lateGrantWindows(admin, worker) {
  const monitor = await admin.monitor();
  const granted = new Map();
  const windows = [];
  monitor.on('monitor', (time, args, source) => {
    if (source === 'lua' || !/^eval/i.test(String(args[0]))) return;
    const rest = args.slice(3 + Number(args[2]));
    const [leaseId, second] = rest;
    if (second === 'cancel' && granted.has(leaseId)) windows.push(Number(time) * 1000 - granted.get(leaseId));
    else if (rest.length >= 8 && rest.length % 6 === 2) granted.set(leaseId, Number(time) * 1000);
  });
  await new Promise((resolve) => setTimeout(resolve, 50));
  await admin.call('CLIENT', 'PAUSE', String(LATE.pauseMs), 'ALL');
  await all([worker], { type: 'late', count: LATE.count });
  await new Promise((resolve) => setTimeout(resolve, LATE.pauseMs + 500));
  monitor.disconnect();
  return windows.sort((a, b) => a - b);
}

function percentile(sorted, fraction) {
  return sorted.length === 0 ? 0 : Math.round(sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))]);
}

function format(byCommand, operations) {
  const total = [...byCommand.values()].reduce((sum, count) => sum + count, 0);
  const detail = [...byCommand].map(([name, count]) => `${name} ${count}`).join(', ');
  return `${(total / operations).toFixed(2)} (${total} commands for ${operations} operations: ${detail})`;
}

function redisVersion(port) {
  return execFileSync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), 'INFO', 'server'], { encoding: 'utf8' }).match(/redis_version:(\S+)/)?.[1] ?? '?';
}

async function startWorker(port) {
  const child = fork(fileURLToPath(import.meta.url), ['--worker', JSON.stringify({ port })], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  await nextMessage(child);
  return child;
}

async function worker({ port }) {
  const redis = new Redis(port, '127.0.0.1');
  redis.on('error', () => {}); // reported through the commands that fail
  // No periodic refresh and a long TTL: the background sync stays out of the command counts.
  const store = new RedisQuotaStore({ redis, keyPrefix: 'bench:', refreshIntervalMs: 0, leaseTtlMs: 600_000 });
  // agentmeter.run settles without waiting for the store: count settlements to know when a phase is over.
  let settled = 0;
  const countingStore = {
    name: store.name,
    reserve: (request) => store.reserve(request),
    charge: (lease, usage) => store.charge(lease, usage),
    settle: (lease) => store.settle(lease).finally(() => (settled += 1)),
    read: (key) => store.read(key),
    scopes: () => store.scopes(),
  };
  const agentmeter = new AgentMeter({ quota: { limits: LIMITS, store: countingStore } });
  const burstStore = new RedisQuotaStore({ redis, keyPrefix: 'burst:', refreshIntervalMs: 0, leaseTtlMs: 600_000, timeoutMs: BURST.timeoutMs });
  const lateStore = new RedisQuotaStore({ redis, keyPrefix: 'late:', refreshIntervalMs: 0, leaseTtlMs: 600_000, timeoutMs: LATE.timeoutMs });
  const burstMeter = new AgentMeter({ quota: { limits: LIMITS, scopeBy: 'conversation', store: burstStore } });
  let leases = [];
  const request = () => ({ nodes: [ROOT], estimate: { tokens: 100, costNanos: 50 }, now: Date.now(), enforce: true });
  const handlers = {
    'warm-up': async () => {
      // Loads the scripts and lets the JIT settle before anything is timed.
      await pool(1_000, async () => {
        const result = await store.reserve(request());
        await store.charge(result.lease, { tokens: 10, costNanos: 5 });
        await store.settle(result.lease);
      });
      const target = settled + 1_000;
      await pool(1_000, () => agentmeter.run({ name: 'warm-up' }, async () => undefined));
      while (settled < target) await new Promise((resolve) => setTimeout(resolve, 1));
    },
    reserve: async ({ count }) => {
      leases = [];
      await pool(count, async () => {
        const result = await store.reserve(request());
        if (!result.admitted) throw new Error(`denied: ${JSON.stringify(result.violation)}`);
        leases.push(result.lease);
      });
    },
    settle: async () => {
      let next = 0;
      await pool(leases.length, () => store.settle(leases[next++]));
      leases = [];
    },
    run: async ({ count }) => {
      const target = settled + count;
      await pool(count, () => agentmeter.run({ name: 'bench', estimate: { tokens: 100 } }, async () => undefined));
      while (settled < target) await new Promise((resolve) => setTimeout(resolve, 1));
    },
    burst: async ({ scopes, runsPerScope, busyMs, startAt }) => {
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, startAt - Date.now())));
      const latencies = [];
      const refused = {};
      const runs = [];
      for (let i = 0; i < runsPerScope; i++) {
        for (let scope = 0; scope < scopes; scope++) {
          const calledAt = performance.now();
          const run = burstMeter
            .run({ name: 'burst', conversationId: `b${scope}`, estimate: { tokens: 10 } }, async () => {
              latencies.push(performance.now() - calledAt);
            })
            .catch((error) => {
              latencies.push(performance.now() - calledAt);
              refused[error.name] = (refused[error.name] ?? 0) + 1;
            });
          runs.push(run);
        }
      }
      const spikeEnd = performance.now() + busyMs;
      while (performance.now() < spikeEnd) {
        // A CPU spike: the event loop is blocked.
      }
      await Promise.all(runs);
      const endedAt = Date.now();
      const refusals = Object.values(refused).reduce((sum, count) => sum + count, 0);
      return { latencies, admitted: latencies.length - refusals, refused, endedAt };
    },
    late: async ({ count }) => {
      // Each caller gives up after timeoutMs; Redis grants the reservations later, and the store cancels them.
      await Promise.allSettled(Array.from({ length: count }, () => lateStore.reserve({ ...request(), nodes: [LATE_ROOT] })));
    },
    exit: async () => {
      await store.close();
      await burstStore.close();
      await lateStore.close();
      redis.disconnect();
      setImmediate(() => process.exit(0));
    },
  };
  process.on('message', async (message) => {
    try {
      const result = await handlers[message.type](message);
      process.send({ type: 'done', ...result });
    } catch (error) {
      process.send({ type: 'error', message: String(error?.stack ?? error) });
    }
  });
  await redis.ping();
  process.send({ type: 'ready' });
}

/** Runs `task` `count` times with at most IN_FLIGHT at once. */
async function pool(count, task) {
  let started = 0;
  const lanes = Array.from({ length: Math.min(IN_FLIGHT, count) }, async () => {
    while (started < count) {
      started += 1;
      await task();
    }
  });
  await Promise.all(lanes);
}
