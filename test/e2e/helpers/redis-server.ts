import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

/** A `redis-server` on a loopback port, without persistence, owned by one test file. */
export interface RedisServer {
  readonly port: number;
  readonly url: string;
  /** Stops the server (SIGTERM, then SIGKILL after 5 s). Idempotent. */
  stop(): Promise<void>;
  /** Starts it again on the same port (empty: nothing is persisted). */
  start(): Promise<void>;
}

const live = new Set<ChildProcess>();
const dirs = new Set<string>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** Makes sure `redis-server` is installed (via `scripts/ensure-tools.sh` when the repo has it). */
export function ensureRedisServer(): void {
  if (hasRedisServer()) return;
  const script = resolve(ROOT, 'scripts/ensure-tools.sh');
  if (existsSync(script)) execFileSync('bash', [script], { stdio: 'inherit' });
  if (!hasRedisServer()) {
    throw new Error('redis-server is not installed: run scripts/ensure-tools.sh or `apt-get install -y redis-server` (Debian)');
  }
}

function hasRedisServer(): boolean {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

import { freePort } from '../../helpers/net.js';
import { waitFor } from '../../helpers/poll.js';

export { freePort };

export interface RedisServerOptions {
  /** Cluster mode with a single node that owns every slot: scripts then fail on keys of two slots. */
  cluster?: boolean;
}

export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  ensureRedisServer();
  const port = await freePort();
  let child: ChildProcess | undefined;
  const dir = mkdtempSync(join(tmpdir(), 'agentmetry-redis-'));
  dirs.add(dir);

  const start = async (): Promise<void> => {
    if (child !== undefined) return;
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'yes'];
    args.push('--loglevel', 'warning', '--dir', dir);
    if (options.cluster === true)
      args.push('--cluster-enabled', 'yes', '--cluster-announce-ip', '127.0.0.1', '--cluster-config-file', join(dir, `nodes-${Date.now()}.conf`));
    const spawned = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child = spawned;
    live.add(spawned);
    spawned.once('exit', () => live.delete(spawned));
    await waitForPing(port, spawned);
    if (options.cluster === true) await assignAllSlots(port);
  };

  const stop = async (): Promise<void> => {
    const current = child;
    child = undefined;
    // Not started, or already exited.
    if (current?.exitCode !== null || current.signalCode !== null) return;
    await new Promise<void>((done) => {
      const timer = setTimeout(() => current.kill('SIGKILL'), 5_000);
      current.once('exit', () => {
        clearTimeout(timer);
        done();
      });
      current.kill('SIGTERM');
    });
  };

  await start();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    start,
    stop,
  };
}

async function assignAllSlots(port: number): Promise<void> {
  const cli = (...args: string[]): string => execFileSync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { encoding: 'utf8' });
  cli('CLUSTER', 'ADDSLOTSRANGE', '0', '16383');
  await waitFor('the single-node cluster to reach cluster_state:ok', () => (cli('CLUSTER', 'INFO').includes('cluster_state:ok') ? true : undefined), {
    timeoutMillis: 10_000,
    intervalMillis: 100,
  });
}

/** Waits (at most 10 s) until the server answers PING; fails at once if it exits. */
async function waitForPing(port: number, child: ChildProcess): Promise<void> {
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const ping = (): 'up' | 'exited' | undefined => {
    if (child.exitCode !== null) return 'exited';
    const reply = execFileSync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), 'PING'], {
      encoding: 'utf8',
      timeout: 2_000,
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    return reply.trim() === 'PONG' ? 'up' : undefined;
  };
  let state: 'up' | 'exited';
  try {
    state = await waitFor(`redis-server on port ${port} to answer PING`, ping, { timeoutMillis: 10_000, intervalMillis: 50, describe: () => output });
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  if (state === 'exited') throw new Error(`redis-server exited with ${String(child.exitCode)}: ${output}`);
}

/**
 * Builds the package into a private directory for this test run, so that child processes import
 * it as users do, and so that a build started elsewhere in the tree (which rewrites `dist/` file by
 * file) cannot change the code under a running test. Returns the directory; remove it when done.
 * Type errors are the typecheck's business: tsc still emits, and only missing output fails here.
 */
export function buildPackage(): string {
  const cache = resolve(ROOT, 'node_modules/.cache/agentmetry-e2e');
  mkdirSync(cache, { recursive: true });
  const outDir = mkdtempSync(join(cache, 'dist-'));
  // Outside the package's own scope (inside node_modules), ESM needs its own package.json.
  writeFileSync(join(outDir, 'package.json'), '{ "type": "module" }\n');
  try {
    execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json', '--outDir', outDir], { cwd: ROOT, stdio: 'pipe' });
  } catch (error) {
    const output = String((error as { stdout?: Buffer }).stdout ?? error);
    for (const file of ['index.js', 'redis/index.js']) {
      if (!existsSync(join(outDir, file))) throw new Error(`build did not produce ${file}:\n${output}`, { cause: error });
    }
    console.warn(`tsc reported errors while building (the files were emitted):\n${output}`);
  }
  dirs.add(outDir);
  return outDir;
}
