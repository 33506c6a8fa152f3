/** Starting and always stopping the real binaries the e2e suite drives. */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface ManagedProcess {
  readonly name: string;
  readonly child: ChildProcess;
  readonly logFile: string;
  /** The last lines the process wrote, for failure messages. */
  logTail(lines?: number): string;
  /** SIGTERM, then SIGKILL after `graceMillis`. Resolves once the process has exited. Idempotent. */
  stop(graceMillis?: number): Promise<void>;
}

const running = new Set<ManagedProcess>();

/** Last resort: a worker that exits without afterAll still takes its children with it. */
process.once('exit', () => {
  for (const managed of running) managed.child.kill('SIGKILL');
});

export function makeTempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `agentmetry-${prefix}-`));
}

export function startProcess(
  name: string,
  command: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string; logDir: string },
): ManagedProcess {
  const logFile = join(options.logDir, `${name}.log`);
  const log = createWriteStream(logFile, { flags: 'a' });
  const child = spawn(command, args, { cwd: options.cwd, env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.pipe(log, { end: false });
  child.stderr.pipe(log, { end: false });
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.once('error', () => resolve());
  });
  let stopping: Promise<void> | undefined;
  const managed: ManagedProcess = {
    name,
    child,
    logFile,
    logTail(lines = 30) {
      try {
        return readFileSync(logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
      } catch {
        return '';
      }
    },
    stop(graceMillis = 10_000) {
      stopping ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGTERM');
          const timer = setTimeout(() => child.kill('SIGKILL'), graceMillis);
          await exited;
          clearTimeout(timer);
        }
        running.delete(managed);
        log.end();
      })();
      return stopping;
    },
  };
  running.add(managed);
  return managed;
}

export { freePort } from '../../helpers/net.js';

export const sleep = (millis: number) => new Promise<void>((resolve) => setTimeout(resolve, millis));

export { waitFor } from '../../helpers/poll.js';

export async function httpOk(url: string): Promise<true | undefined> {
  const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
  await response.arrayBuffer();
  return response.ok ? true : undefined;
}
