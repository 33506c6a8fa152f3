// Redis quota store benchmark: admissions per second across 4 processes, and Redis round trips
// per admission, per settlement and per run. Round trips are counted with MONITOR in a separate
// phase (MONITOR slows Redis down): every command a client sent, not the ones a script ran.
// Usage: node bench/redis.mjs [--quick]   (needs `npm run build` and redis-server on PATH;
// it starts its own redis-server on a loopback port and stops it at the end)
import { fork, spawn, execFileSync } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { AgentMeter } from '../dist/index.js';
import { RedisQuotaStore } from '../dist/redis/index.js';

const PROCESSES = 4;
const IN_FLIGHT = 32;
const quick = process.argv.includes('--quick');
const PER_PROCESS = quick ? 2_000 : 10_000;
const COUNTED_PER_PROCESS = quick ? 250 : 1_000;
const LIMITS = { maxConcurrent: 1_000_000, maxTokens: 1_000_000_000_000 };
const ROOT = { key: 'global', limits: { concurrent: 1_000_000, tokens: 1_000_000_000_000 }, ephemeral: false };

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
    const cpu = await admin.info('cpu');
    const redisCpu = Number(cpu.match(/used_cpu_user:([\d.]+)/)?.[1]) + Number(cpu.match(/used_cpu_sys:([\d.]+)/)?.[1]);
    console.log(`redis: redis-server CPU over the whole benchmark: ${redisCpu.toFixed(2)} s`);
    const scope = await admin.hgetall('bench:{global}:node:global');
    if (scope.re !== '0' || scope.rk !== '0') throw new Error(`leaked reservations after the benchmark: ${JSON.stringify(scope)}`);
    const exited = workers.map((child) => new Promise((resolve) => child.once('exit', resolve)));
    await all(workers, { type: 'exit' });
    await Promise.all(exited);
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

function nextMessage(child) {
  return new Promise((resolve, reject) => {
    const onExit = (code) => reject(new Error(`benchmark worker exited with ${code}`));
    child.once('exit', onExit);
    child.once('message', (message) => {
      child.off('exit', onExit);
      if (message.type === 'error') reject(new Error(message.message));
      else resolve(message);
    });
  });
}

function all(workers, message) {
  return Promise.all(
    workers.map((child) => {
      const answer = nextMessage(child);
      child.send(message);
      return answer;
    }),
  );
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
    exit: async () => {
      await store.close();
      redis.disconnect();
      setImmediate(() => process.exit(0));
    },
  };
  process.on('message', async (message) => {
    try {
      await handlers[message.type](message);
      process.send({ type: 'done' });
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

function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}
