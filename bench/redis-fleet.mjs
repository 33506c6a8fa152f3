// The fleet section of bench/redis.mjs: admissions per second and p50/p99 admission latency for
// 1, 4 and 8 processes, on a single redis-server and on a 3-primary, 3-replica Redis Cluster,
// measured in one run (the two alternate which goes first) and printed side by side.
// Reserve only: each process keeps IN_FLIGHT reservations in flight over SCOPES scopes, so the
// cluster's slots spread over its 3 primaries; every reservation is settled after its phase.
import { execFileSync, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Cluster, Redis } from 'ioredis';
import { RedisQuotaStore } from '../dist/redis/index.js';
import { all, nextMessage } from './processes.mjs';
import { startRedisCluster } from './redis-cluster.mjs';

const PROCESS_COUNTS = [1, 4, 8];
const IN_FLIGHT = 32;
const SCOPES = 256;
const WARM_UP = 500;
const LIMITS = { concurrent: 1_000_000, tokens: 1_000_000_000_000 };

if (process.argv[2] === '--fleet-worker') await worker(JSON.parse(process.argv[3]));

/**
 * Runs the fleet section against the single redis-server on `port` and a cluster it starts, and
 * prints one table. Prints a line saying why when the cluster cannot be started.
 */
export async function fleet({ port, quick }) {
  const perProcess = quick ? 500 : 1_500;
  const rounds = 3;
  const started = performance.now();
  let cluster;
  try {
    execFileSync('redis-cli', ['--version'], { stdio: 'ignore' });
    cluster = await startRedisCluster();
  } catch (error) {
    const reason =
      error?.code === 'ENOENT' ? 'redis-cli is not installed' : `no Redis Cluster could be started: ${String(error?.message ?? error).split('\n')[0]}`;
    console.log(`redis: fleet on a Redis Cluster skipped (${reason}); the single node is measured alone`);
  }
  const targets = cluster === undefined ? ['single'] : ['single', 'cluster'];
  const workers = [];
  const kill = () => {
    for (const child of workers) child.kill('SIGKILL');
  };
  process.once('exit', kill);
  try {
    const max = Math.max(...PROCESS_COUNTS);
    // Every process holds a client to each; the ones not in a phase stay idle.
    for (let i = 0; i < max; i++) workers.push(await startWorker({ port, startupNodes: cluster?.startupNodes }));
    await all(workers, { type: 'warm-up', targets }); // loads the scripts on every primary and lets the JIT settle

    const rows = [];
    for (const processes of PROCESS_COUNTS) {
      const row = { processes };
      for (const target of targets) row[target] = { rates: [], latencies: [] };
      for (let round = 0; round < rounds; round++) {
        for (const target of round % 2 === 0 ? targets : [...targets].reverse()) {
          const { rate, latencies } = await phase(workers.slice(0, processes), target, perProcess);
          row[target].rates.push(rate);
          row[target].latencies.push(...latencies);
        }
      }
      rows.push(row);
    }
    const version = execFileSync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), 'INFO', 'server'], { encoding: 'utf8' }).match(
      /redis_version:(\S+)/,
    )?.[1];
    console.log(
      `redis: fleet, reserve only, ${perProcess} reservations per process with ${IN_FLIGHT} in flight, over ${SCOPES} scopes, ${rounds} rounds; ` +
        `single loopback redis-server ${version}${cluster === undefined ? '' : ' vs. a loopback Redis Cluster of 3 primaries and 3 replicas'}; ` +
        `admissions per second: median ` +
        `over the rounds; latency: reserve() called → decided, over every round; cluster/single: median of the rounds' ratios`,
    );
    const header = ['processes', 'single admissions/s', 'p50 ms', 'p99 ms', 'cluster admissions/s', 'p50 ms', 'p99 ms', 'cluster/single'];
    const columns = ({ rates, latencies }) => {
      latencies.sort((a, b) => a - b);
      return [String(median(rates)), percentile(latencies, 0.5).toFixed(1), percentile(latencies, 0.99).toFixed(1)];
    };
    const lines = rows.map(({ processes, single, cluster: clustered }) => [
      String(processes),
      ...columns(single),
      ...(clustered === undefined
        ? ['skipped', '-', '-', '-']
        : [...columns(clustered), median(clustered.rates.map((rate, round) => rate / single.rates[round])).toFixed(2)]),
    ]);
    const widths = header.map((title, column) => Math.max(title.length, ...lines.map((line) => line[column].length)));
    for (const line of [header, ...lines]) console.log(`redis: fleet | ${line.map((cell, column) => cell.padStart(widths[column])).join(' | ')} |`);
    console.log(`redis: fleet section took ${Math.round((performance.now() - started) / 1000)} s`);

    const exited = workers.map((child) => new Promise((resolve) => child.once('exit', resolve)));
    await all(workers, { type: 'exit' });
    await Promise.all(exited);
  } finally {
    kill();
    process.off('exit', kill);
    cluster?.stop();
  }
}

async function phase(workers, target, count) {
  const start = process.hrtime.bigint();
  const results = await all(workers, { type: 'reserve', target, count });
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  await all(workers, { type: 'settle', target });
  const latencies = results.flatMap((result) => result.latencies);
  return { rate: Math.round(latencies.length / seconds), latencies };
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

function percentile(sorted, fraction) {
  return sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))];
}

async function startWorker(options) {
  const child = fork(fileURLToPath(import.meta.url), ['--fleet-worker', JSON.stringify(options)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  await nextMessage(child);
  return child;
}

async function worker({ port, startupNodes }) {
  const single = new Redis(port, '127.0.0.1');
  const cluster = startupNodes === undefined ? undefined : new Cluster(startupNodes);
  single.on('error', () => {}); // reported through the commands that fail
  cluster?.on('error', () => {});
  // No periodic refresh and a long TTL: the background sync stays out of the measurement.
  const options = { keyPrefix: 'fleet:', refreshIntervalMs: 0, leaseTtlMs: 600_000 };
  const stores = { single: new RedisQuotaStore({ redis: single, ...options }) };
  if (cluster !== undefined) stores.cluster = new RedisQuotaStore({ redis: cluster, ...options });
  const leases = { single: [], cluster: [] };
  let next = process.pid; // processes start on different scopes
  const request = () => ({
    nodes: [{ key: `s${next++ % SCOPES}`, limits: LIMITS, ephemeral: false }],
    estimate: { tokens: 100, costNanos: 50 },
    now: Date.now(),
    enforce: true,
  });
  const reserve = async (target) => {
    const result = await stores[target].reserve(request());
    if (!result.admitted) throw new Error(`denied: ${JSON.stringify(result.violation)}`);
    leases[target].push(result.lease);
  };
  const settle = async (target) => {
    const held = leases[target];
    leases[target] = [];
    let index = 0;
    await pool(held.length, () => stores[target].settle(held[index++]));
  };
  const handlers = {
    'warm-up': async ({ targets }) => {
      for (const target of targets) {
        await pool(WARM_UP, () => reserve(target));
        await settle(target);
      }
    },
    reserve: async ({ target, count }) => {
      const latencies = [];
      await pool(count, async () => {
        const calledAt = performance.now();
        await reserve(target);
        latencies.push(Math.round((performance.now() - calledAt) * 100) / 100);
      });
      return { latencies };
    },
    settle: ({ target }) => settle(target),
    exit: async () => {
      for (const store of Object.values(stores)) await store.close();
      single.disconnect();
      cluster?.disconnect();
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
  await single.ping();
  await cluster?.ping();
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
