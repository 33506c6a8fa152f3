// A Redis Cluster on loopback for the benchmarks: 3 primaries and 3 replicas
// (`redis-server --cluster-enabled yes`, joined by `redis-cli --cluster create --cluster-replicas 1`),
// the same shape as test/e2e/helpers/redis-cluster.ts, without its failover tools.
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { freePort } from './processes.mjs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * Starts the cluster and resolves once every node reports `cluster_state:ok`. Rejects (after
 * stopping what it started) when redis-server or redis-cli is missing or lacks cluster support;
 * the error's message says which.
 * @returns {Promise<{ startupNodes: Array<{ host: string, port: number }>, stop: () => void }>}
 */
export async function startRedisCluster() {
  const dir = mkdtempSync(join(tmpdir(), 'bench-redis-cluster-'));
  const ports = [];
  for (let i = 0; i < 6; i++) ports.push(await freePort());
  const children = [];
  const output = new Map(ports.map((port) => [port, '']));
  const stop = () => {
    for (const child of children) child.kill('SIGKILL'); // nothing to keep: no persistence
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', stop);
  const cli = async (port, ...args) => (await run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { timeout: 10_000 })).stdout;
  try {
    for (const port of ports) {
      // prettier-ignore
      const args = [
        '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
        '--dir', dir, '--dbfilename', `dump-${port}.rdb`, '--loglevel', 'warning',
        '--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `nodes-${port}.conf`),
        '--cluster-announce-ip', '127.0.0.1',
      ];
      const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
      const append = (chunk) => output.set(port, output.get(port) + chunk.toString());
      child.stdout.on('data', append);
      child.stderr.on('data', append);
      child.once('error', (error) => output.set(port, output.get(port) + String(error)));
      children.push(child);
    }
    for (const [index, port] of ports.entries()) {
      const child = children[index];
      await until(
        `redis-server on port ${port} to answer PING`,
        async () => {
          if (child.exitCode !== null) throw new Error(`redis-server on port ${port} exited with ${child.exitCode}: ${output.get(port).trim().slice(-500)}`);
          return (await cli(port, 'PING').catch(() => '')).trim() === 'PONG';
        },
        () => output.get(port),
      );
    }
    await run('redis-cli', ['--cluster', 'create', ...ports.map((port) => `127.0.0.1:${port}`), '--cluster-replicas', '1', '--cluster-yes'], {
      timeout: 30_000,
    });
    for (const port of ports) {
      await until(
        `node ${port} to report cluster_state:ok`,
        async () => (await cli(port, 'CLUSTER', 'INFO')).includes('cluster_state:ok'),
        () => output.get(port),
      );
    }
  } catch (error) {
    stop();
    process.off('exit', stop);
    throw error;
  }
  return { startupNodes: ports.map((port) => ({ host: '127.0.0.1', port })), stop };
}

async function until(what, check, describe) {
  const deadline = Date.now() + 15_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${describe().trim().slice(-500)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
