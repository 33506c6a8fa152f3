import { AsyncLocalStorage } from 'node:async_hooks';
import type { Span } from '@opentelemetry/api';
import type { Run } from '../types.js';
import type { RunHandle } from './run-handle.js';

/** What is active: the innermost run, and the span new runs should be children of (a run's or a batch's). */
export interface RunFrame {
  readonly run: RunHandle | undefined;
  readonly span: Span;
}

const STORAGE_KEY = Symbol.for('agentmetry.runStorage');

/**
 * The innermost active run, carried across `await`, timers and `Promise.all` by
 * AsyncLocalStorage. One storage per process (kept on globalThis), so that nesting also holds
 * between two copies of the package, and whether or not the app registered an OTel context
 * manager.
 */
export const runStorage: AsyncLocalStorage<RunFrame> =
  // eslint-disable-next-line @typescript-eslint/no-unsafe-class-instance-assignment -- another copy of this package may have made it, from the same node:async_hooks class
  ((globalThis as Record<symbol, unknown>)[STORAGE_KEY] ??= new AsyncLocalStorage<RunFrame>()) as AsyncLocalStorage<RunFrame>;

/** The innermost active run, or `undefined` outside any run. */
export function currentRun(): Run | undefined {
  return runStorage.getStore()?.run;
}
