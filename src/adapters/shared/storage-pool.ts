import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * AsyncLocalStorage instances handed back by uninstalled adapters, for the next install. On Node
 * 20 every storage that was ever entered costs every promise in the process a little, for good:
 * an app or a test suite that installs and uninstalls an adapter many times must not add one
 * each time. A storage goes back only once the instrumentation no longer enters it.
 */
export class StoragePool<T> {
  readonly #free: Array<AsyncLocalStorage<T>> = [];

  take(): AsyncLocalStorage<T> {
    return this.#free.pop() ?? new AsyncLocalStorage<T>();
  }

  give(storage: AsyncLocalStorage<T>): void {
    if (!this.#free.includes(storage)) this.#free.push(storage);
  }
}
