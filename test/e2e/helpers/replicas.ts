import { fork, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { Redis } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';
import { buildPackage, startRedisServer, type RedisServer } from './redis-server.js';

/**
 * The parent side of a replica process: a script forked with its options as JSON in argv[2] that
 * answers each message with one message (test/e2e/fixtures/replica-ipc.mjs is its side).
 */
export interface Replica {
  readonly child: ChildProcess;
  /** Sends `message` and resolves the replica's answer; rejects if it answers `{ type: 'error' }` or exits first. */
  request(message: Record<string, unknown>): Promise<Record<string, unknown>>;
}

/**
 * Forks `script` with `options`, keeps the child in `children` while it runs (for the test's
 * cleanup to kill), and resolves once the replica says it is ready.
 */
export async function startReplica(script: string, options: Record<string, unknown>, children: Set<ChildProcess>): Promise<Replica> {
  const child = fork(script, [JSON.stringify(options)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  const next = (): Promise<Record<string, unknown>> =>
    new Promise((resolveMessage, reject) => {
      const onExit = (code: number | null): void => reject(new Error(`replica exited (${code}) before answering`));
      child.once('exit', onExit);
      child.once('message', (message: Record<string, unknown>) => {
        child.off('exit', onExit);
        if (message.type === 'error') reject(new Error(String(message.message)));
        else resolveMessage(message);
      });
    });
  await next(); // ready
  return {
    child,
    request: (message) => {
      const answer = next();
      child.send(message);
      return answer;
    },
  };
}

/** Asks every replica to close its store and exit, ignoring one that is already gone. */
export async function stopReplicas(replicas: readonly Replica[]): Promise<void> {
  await Promise.all(replicas.map((replica) => replica.request({ type: 'exit' }).catch(() => undefined)));
}

/** A private build of the package, a redis-server and the replica processes of one test file. */
export interface ReplicaFixture {
  /** The build the replicas import. */
  readonly dist: string;
  readonly server: RedisServer;
  /** A client of the test's own, for reading what the replicas left in Redis. */
  readonly redis: Redis;
  /** The replicas still running, killed after the file. */
  readonly children: Set<ChildProcess>;
  /** Starts a replica of `script` with `options`, and this file's `dist` and Redis `port`. */
  start(script: string, options: Record<string, unknown>): Promise<Replica>;
}

/**
 * Builds the package and starts a redis-server before the file's tests (beforeAll); after them
 * (afterAll) kills the replicas left, stops the server and removes the build.
 */
export function useReplicaFixture(): ReplicaFixture {
  let dist: string | undefined;
  let server: RedisServer | undefined;
  let redis: Redis | undefined;
  const children = new Set<ChildProcess>();
  beforeAll(async () => {
    dist = buildPackage();
    server = await startRedisServer();
    redis = new Redis(server.port, '127.0.0.1');
  });
  afterAll(async () => {
    for (const child of children) child.kill('SIGKILL');
    // Unset if beforeAll failed before starting them.
    redis?.disconnect();
    await server?.stop();
    if (dist !== undefined) rmSync(dist, { recursive: true, force: true });
  });
  return {
    get dist() {
      return dist!;
    },
    get server() {
      return server!;
    },
    get redis() {
      return redis!;
    },
    children,
    start: (script, options) => startReplica(script, { dist, port: server!.port, ...options }, children),
  };
}
