import { describe, expect, it } from 'vitest';
import { AdmissionQueue } from '../../src/quota/redis/admission-queue.js';
import { QuotaStoreOverloadedError } from '../../src/quota/redis/overloaded-error.js';
import { QuotaStoreUnavailableError } from '../../src/index.js';

/** A task that runs until `finish()` is called, recording that it started. */
function gate(started: number[], id: number): { task: () => Promise<number>; finish: () => void } {
  let finish!: () => void;
  const done = new Promise<void>((resolve) => (finish = resolve));
  return {
    task: async () => {
      started.push(id);
      await done;
      return id;
    },
    finish: () => finish(),
  };
}

const reasonOf = (error: unknown): string => (QuotaStoreOverloadedError.isInstance(error) ? error.reason : String(error));

describe('the Redis store admission queue', () => {
  it('runs at most maxInFlight tasks at once, the rest in arrival order', async () => {
    const queue = new AdmissionQueue('redis', { maxInFlight: 2, maxDepth: 10, maxAgeMs: 60_000 });
    const started: number[] = [];
    const gates = [0, 1, 2, 3].map((id) => gate(started, id));
    const results = gates.map(({ task }) => queue.run(task));
    await Promise.resolve();
    expect(started).toEqual([0, 1]);
    gates[1]!.finish();
    await results[1];
    await new Promise((done) => setImmediate(done));
    expect(started).toEqual([0, 1, 2]);
    for (const { finish } of gates) finish();
    expect(await Promise.all(results)).toEqual([0, 1, 2, 3]);
  });

  it('refuses beyond maxDepth and past maxAgeMs with QuotaStoreOverloadedError, a kind of QuotaStoreUnavailableError', async () => {
    const queue = new AdmissionQueue('redis', { maxInFlight: 1, maxDepth: 1, maxAgeMs: 20 });
    const started: number[] = [];
    const [first, second, third] = [0, 1, 2].map((id) => gate(started, id));
    const running = queue.run(first!.task);
    const waiting = queue.run(second!.task).catch((error: unknown) => error);
    const full = await queue.run(third!.task).catch((error: unknown) => error);
    expect(reasonOf(full)).toBe('queue-full');
    expect(QuotaStoreUnavailableError.isInstance(full)).toBe(true);
    expect((full as Error).name).toBe('QuotaStoreOverloadedError');
    expect((full as Error).message).toMatch(/maxQueueDepth 1/);

    await new Promise((done) => setTimeout(done, 40)); // the waiting task is now older than maxAgeMs
    first!.finish();
    await running;
    const old = await waiting;
    expect(reasonOf(old)).toBe('queue-timeout');
    expect((old as Error).message).toMatch(/maxQueueAgeMs 20/);
    expect(started).toEqual([0]);
  });

  it('frees its place when a task rejects', async () => {
    const queue = new AdmissionQueue('redis', { maxInFlight: 1, maxDepth: 0, maxAgeMs: 60_000 });
    await expect(queue.run(() => Promise.reject(new Error('redis down')))).rejects.toThrow('redis down');
    await expect(queue.run(() => Promise.resolve('next'))).resolves.toBe('next');
  });
});
