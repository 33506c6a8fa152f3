import { AsyncLocalStorage } from 'node:async_hooks';
import type { Run } from '../types.js';
import type { RunState } from './run-state.js';

const STORAGE_KEY = Symbol.for('agentmeter.runStorage');

/**
 * The innermost active run, carried across `await`, timers and `Promise.all` by
 * AsyncLocalStorage. One storage per process (kept on globalThis), so that nesting also holds
 * between two copies of the package, and whether or not the app registered an OTel context
 * manager.
 */
export const runStorage: AsyncLocalStorage<RunState> = ((globalThis as Record<symbol, unknown>)[STORAGE_KEY] ??=
  new AsyncLocalStorage<RunState>()) as AsyncLocalStorage<RunState>;

/** The innermost active run, or `undefined` outside any run. */
export function currentRun(): Run | undefined {
  return runStorage.getStore();
}
