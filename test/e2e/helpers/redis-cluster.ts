/**
 * A real Redis Cluster on loopback: 3 primaries and 3 replicas (`redis-server --cluster-enabled`,
 * joined by `redis-cli --cluster create --cluster-replicas 1`), owned by one test file, with the
 * two ways a primary goes away: a coordinated `CLUSTER FAILOVER` on its replica, and a `SIGKILL`.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort, makeTempDir, waitFor } from './processes.js';

const run = promisify(execFile);

/** One line of CLUSTER NODES. */
export interface ClusterNode {
  id: string;
  port: number;
  role: 'master' | 'slave';
  /** The primary's id, for a replica. */
  primaryId: string | undefined;
  failed: boolean;
  /** Slot ranges served, for a primary. */
  slots: Array<[number, number]>;
}

export interface RedisCluster {
  /** Every node's port, primaries first as created. */
  readonly ports: number[];
  /** Startup nodes for an ioredis `Cluster`. */
  readonly startupNodes: Array<{ host: string; port: number }>;
  /** CLUSTER NODES as seen by a live node. */
  nodes(): Promise<ClusterNode[]>;
  /** The node serving a slot (a primary). */
  primaryOf(slot: number): Promise<ClusterNode>;
  /** A live replica of the primary with this id. */
  replicaOf(primaryId: string): Promise<ClusterNode>;
  /** `CLUSTER FAILOVER` on the replica; resolves once it is a primary that every live node agrees on. */
  failover(replica: ClusterNode): Promise<void>;
  /** SIGKILL of a node; resolves at once (the cluster detects it after cluster-node-timeout). */
  kill(node: ClusterNode): void;
  /** Waits until every slot is served by a live primary that every live node agrees on. */
  waitHealthy(): Promise<void>;
  cli(port: number, ...args: string[]): Promise<string>;
  stop(): Promise<void>;
}

/**
 * `nodeTimeoutMillis` is cluster-node-timeout: how long a primary must be unreachable before
 * its replica is promoted after a crash (Redis' default is 15 s; a short one keeps the trial short).
 */
export async function startRedisCluster(options: { redisServer: string; redisCli: string; nodeTimeoutMillis: number }): Promise<RedisCluster> {
  const dir = makeTempDir('redis-cluster');
  const ports: number[] = [];
  for (let i = 0; i < 6; i++) ports.push(await freePort());
  const children = new Map<number, ChildProcess>();
  const output = new Map<number, string>();
  const cli = async (port: number, ...args: string[]): Promise<string> =>
    (await run(options.redisCli, ['-h', '127.0.0.1', '-p', String(port), ...args], { timeout: 10_000 })).stdout;

  const stop = async (): Promise<void> => {
    await Promise.all(
      [...children.values()].map(
        (child) =>
          new Promise<void>((done) => {
            if (child.exitCode !== null || child.signalCode !== null) {
              done();
              return;
            }
            child.once('exit', () => done());
            child.kill('SIGKILL'); // nothing to keep: no persistence
          }),
      ),
    );
  };
  process.once('exit', () => {
    for (const child of children.values()) child.kill('SIGKILL');
  });

  try {
    for (const port of ports) {
      // prettier-ignore
      const args = [
        '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
        '--dir', dir, '--dbfilename', `dump-${port}.rdb`, '--loglevel', 'warning',
        '--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `nodes-${port}.conf`),
        '--cluster-node-timeout', String(options.nodeTimeoutMillis), '--cluster-announce-ip', '127.0.0.1',
      ];
      const child = spawn(options.redisServer, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      output.set(port, '');
      const append = (chunk: Buffer) => output.set(port, (output.get(port) ?? '') + chunk.toString());
      child.stdout.on('data', append);
      child.stderr.on('data', append);
      children.set(port, child);
    }
    for (const port of ports) {
      await waitFor(`redis-server on port ${port} to answer PING`, async () => ((await cli(port, 'PING')).trim() === 'PONG' ? true : undefined), {
        timeoutMillis: 10_000,
        intervalMillis: 50,
        describe: () => output.get(port) ?? '',
      });
    }
    await run(options.redisCli, ['--cluster', 'create', ...ports.map((port) => `127.0.0.1:${port}`), '--cluster-replicas', '1', '--cluster-yes'], {
      timeout: 30_000,
    });
  } catch (error) {
    await stop();
    throw error;
  }

  const live = () => ports.filter((port) => children.get(port)?.exitCode === null && children.get(port)?.signalCode === null);

  const nodesSeenBy = async (port: number): Promise<ClusterNode[]> =>
    (await cli(port, 'CLUSTER', 'NODES'))
      .trim()
      .split('\n')
      .map((line) => {
        const [id, address, flags, primary, , , , , ...slots] = line.split(' ');
        return {
          id: id!,
          port: Number(/:(\d+)@/.exec(address!)![1]),
          role: flags!.includes('master') ? ('master' as const) : ('slave' as const),
          primaryId: primary === '-' ? undefined : primary,
          failed: flags!.includes('fail'),
          // `5461-10922` or a single slot `42`; `[…]` entries are slots in migration.
          slots: slots
            .filter((range) => !range.startsWith('['))
            .map((range) => {
              const [from, to = from] = range.split('-').map(Number);
              return [from!, to!] as [number, number];
            }),
        };
      });

  const nodes = () => nodesSeenBy(live()[0]!);

  /** Every live node sees the same live primaries covering all 16384 slots, and cluster_state:ok. */
  const healthy = async (): Promise<true | undefined> => {
    let view: string | undefined;
    for (const port of live()) {
      if (!(await cli(port, 'CLUSTER', 'INFO')).includes('cluster_state:ok')) return undefined;
      const primaries = (await nodesSeenBy(port)).filter((node) => node.role === 'master' && !node.failed && node.slots.length > 0);
      if (primaries.some((node) => !live().includes(node.port))) return undefined;
      const covered = primaries.flatMap((node) => node.slots).reduce((sum, [from, to]) => sum + to - from + 1, 0);
      if (covered !== 16384) return undefined;
      const signature = primaries
        .map((node) => node.port)
        .sort()
        .join(',');
      if (view !== undefined && view !== signature) return undefined;
      view = signature;
    }
    // Every live replica has finished its sync with its primary.
    for (const port of live()) {
      const info = await cli(port, 'INFO', 'replication');
      if (info.includes('role:slave') && !info.includes('master_link_status:up')) return undefined;
    }
    return true;
  };
  const waitHealthy = async () => {
    await waitFor('the Redis Cluster to be healthy (every slot on a live primary, every replica in sync)', healthy, {
      timeoutMillis: 30_000,
      intervalMillis: 100,
      describe: () => [...output.entries()].map(([port, text]) => `--- ${port}\n${text.slice(-2000)}`).join('\n'),
    });
  };
  await waitHealthy().catch(async (error: unknown) => {
    await stop();
    throw error;
  });

  return {
    ports,
    startupNodes: ports.map((port) => ({ host: '127.0.0.1', port })),
    nodes,
    async primaryOf(slot) {
      const found = (await nodes()).find((node) => node.role === 'master' && !node.failed && node.slots.some(([from, to]) => slot >= from && slot <= to));
      if (found === undefined) throw new Error(`no primary serves slot ${slot}`);
      return found;
    },
    async replicaOf(primaryId) {
      const found = (await nodes()).find((node) => node.primaryId === primaryId && !node.failed && live().includes(node.port));
      if (found === undefined) throw new Error(`no live replica of ${primaryId}`);
      return found;
    },
    async failover(replica) {
      await cli(replica.port, 'CLUSTER', 'FAILOVER');
      await waitFor(`the replica on ${replica.port} to be promoted`, async () => ((await cli(replica.port, 'ROLE')).startsWith('master') ? true : undefined), {
        timeoutMillis: 15_000,
        intervalMillis: 50,
      });
    },
    kill(node) {
      children.get(node.port)?.kill('SIGKILL');
    },
    waitHealthy,
    cli,
    stop,
  };
}
