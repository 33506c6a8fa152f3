import assert from 'node:assert/strict';
import type { QuotaStore } from '../store.js';
import { CONTRACT_CASES } from './cases.js';
import { createRandom, workloadSeed } from './random.js';
import { HOLD_CASES } from './hold-cases.js';
import { WINDOW_CASES } from './window-cases.js';
import { generateWorkload, PATHS, replayWorkload, type Step } from './workload.js';

/** Options of `quotaStoreConformance`. */
export interface QuotaStoreConformanceOptions<Lease> {
  /** Makes a new, empty store (for Redis: a fresh key prefix). Called once per case and once per random workload. Required. */
  createStore: () => QuotaStore<Lease> | Promise<QuotaStore<Lease>>;
  /** Disposes of a store after its case or workload, whatever happened. Default: `store.close?.()`. */
  closeStore?: (store: QuotaStore<Lease>) => void | Promise<void>;
  /** Seed of the random workloads; a failure names it. Default: drawn at random. */
  seed?: number;
  /** How many random workloads to replay. Default `120`. */
  workloads?: number;
  /** Most steps in one workload. Default `80`. */
  maxSteps?: number;
}

/**
 * One case of the kit: `run` resolves when the store passed, and rejects with what it did wrong.
 * It needs no `this`, so a test runner can take it as it is: `it(c.name, c.run)`.
 */
export interface QuotaStoreConformanceCase {
  readonly name: string;
  readonly run: () => Promise<void>;
}

const DEFAULT_WORKLOADS = 120;
const DEFAULT_MAX_STEPS = 80;

/**
 * The conformance kit for quota stores: the cases a `QuotaStore` must pass to be used by the
 * quota, runnable by any test framework (`for (const c of cases) it(c.name, c.run)`), with no
 * dependency beyond Node.
 *
 * Explicit cases check the contract one behaviour at a time; the last case replays seeded random
 * workloads on the store and on the in-memory reference store and fails on the first difference,
 * naming the seed and step (pass that `seed` to replay it).
 */
export function quotaStoreConformance<Lease>(options: QuotaStoreConformanceOptions<Lease>): QuotaStoreConformanceCase[] {
  if (typeof (options as QuotaStoreConformanceOptions<Lease> | undefined)?.createStore !== 'function')
    throw new TypeError('quotaStoreConformance: options.createStore must be a function returning a new store');
  const closeStore = options.closeStore ?? ((store: QuotaStore<Lease>) => store.close?.());
  const seed = options.seed ?? Math.floor(Math.random() * 2 ** 32);
  const workloads = options.workloads ?? DEFAULT_WORKLOADS;
  const maxSteps = options.maxSteps ?? DEFAULT_MAX_STEPS;
  if (!Number.isInteger(seed) || seed < 0 || seed >= 2 ** 32)
    throw new TypeError(`quotaStoreConformance: options.seed must be an integer in [0, 2^32), got ${seed}`);
  if (!Number.isInteger(workloads) || workloads < 1)
    throw new TypeError(`quotaStoreConformance: options.workloads must be a positive integer, got ${workloads}`);
  if (!Number.isInteger(maxSteps) || maxSteps < 1) throw new TypeError(`quotaStoreConformance: options.maxSteps must be a positive integer, got ${maxSteps}`);

  const withStore = async (use: (store: QuotaStore<Lease>) => Promise<void>): Promise<void> => {
    const store = await options.createStore();
    try {
      await use(store);
    } finally {
      await closeStore(store);
    }
  };

  const cases: QuotaStoreConformanceCase[] = [...CONTRACT_CASES, ...WINDOW_CASES, ...HOLD_CASES].map((contract) => ({
    name: contract.name,
    run: () => withStore((store) => contract.run(store)),
  }));
  cases.push({
    name: `accounts exactly like the in-memory store over ${workloads} random workloads`,
    run: async () => {
      const reached = new Map<string, number>();
      for (let workload = 0; workload < workloads; workload++) {
        const steps = generateWorkload(createRandom(workloadSeed(seed, workload)), maxSteps);
        await withStore(async (store) => {
          try {
            await replayWorkload(store, steps, reached);
          } catch (error) {
            throw workloadFailure(error, seed, workload, steps);
          }
        });
      }
      // A generator that stopped reaching a path would let a store that is wrong there pass.
      if (workloads >= DEFAULT_WORKLOADS && maxSteps >= DEFAULT_MAX_STEPS) {
        const missed = PATHS.filter((path) => !reached.has(path));
        assert.deepStrictEqual(missed, [], `the random workloads (seed ${seed}) never reached: ${missed.join(', ')}`);
      }
    },
  });
  return cases;
}

/** An error naming the seed, workload and step, with the steps up to the failing one. */
function workloadFailure(error: unknown, seed: number, workload: number, steps: readonly Step[]): Error {
  const step = (error as { step?: number }).step ?? steps.length;
  const where = step < steps.length ? `step ${step} of ${steps.length}` : `the final check after ${steps.length} steps`;
  const trail = steps
    .slice(0, step + 1)
    .map((each, index) => `  ${index}: ${JSON.stringify(each)}`)
    .join('\n');
  const reason = error instanceof Error ? error.message : String(error);
  return new Error(`random workload ${workload} (seed ${seed}) failed at ${where}; replay with { seed: ${seed} }\n${reason}\nsteps:\n${trail}`, {
    cause: error,
  });
}
