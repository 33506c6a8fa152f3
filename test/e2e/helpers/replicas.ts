import { fork, type ChildProcess } from 'node:child_process';

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
