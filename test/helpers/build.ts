import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { waitFor } from './poll.js';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const LOCK = `${ROOT}dist/.build-lock`;
// One build per test run: workers of one vitest run share their parent process.
const DONE = `${ROOT}dist/.built-by-${process.ppid}`;

/**
 * Builds `dist/` once for the test files that spawn the built package (they may run in
 * parallel workers): the first one builds under a lock directory, the others wait for it.
 */
export async function ensureBuilt(): Promise<void> {
  mkdirSync(`${ROOT}dist`, { recursive: true });
  if (exists(DONE)) return;
  try {
    mkdirSync(LOCK);
  } catch {
    await waitFor('the build by another test file', () => (exists(LOCK) ? undefined : true), { timeoutMillis: 300_000, intervalMillis: 200 });
    return;
  }
  try {
    if (exists(DONE)) return;
    execFileSync(process.execPath, [`${ROOT}node_modules/typescript/bin/tsc`, '-p', `${ROOT}tsconfig.build.json`], { cwd: ROOT, stdio: 'pipe' });
    writeFileSync(DONE, '');
  } finally {
    rmSync(LOCK, { recursive: true, force: true });
  }
}

function exists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch {
    return false;
  }
}

export { freePort } from './net.js';
