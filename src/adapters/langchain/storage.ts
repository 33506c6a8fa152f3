import { AsyncLocalStorage } from 'node:async_hooks';
import { AsyncLocalStorageProviderSingleton } from '@langchain/core/singletons';

/**
 * LangChain's AsyncLocalStorage, with a store for code that runs outside every LangChain context.
 *
 * LangChain keeps its configure hooks and context variables in the store of one process-wide
 * AsyncLocalStorage (`AsyncLocalStorageProviderSingleton`), so `setContextVariable` reaches only
 * the async context it is called in and the contexts created from it. This storage answers
 * `getStore()` with `root` where no store was entered: whatever is put in `root` is seen by every
 * LangChain run in the process, whatever async context it starts from (an async start-up
 * function, a preloaded module such as `agentmetry/register` on Node 24, whose context does not
 * reach the app's). It behaves as a plain AsyncLocalStorage otherwise.
 */
export class RootedStorage<T> extends AsyncLocalStorage<T> {
  root: T | undefined = undefined;

  override getStore(): T | undefined {
    return super.getStore() ?? this.root;
  }
}

/**
 * Offers LangChain a `RootedStorage` as its process-wide storage, through its public initializer,
 * which keeps the first instance it is given: this module must be evaluated before
 * `@langchain/core/context` or `@langchain/langgraph`, which initialize it with a plain one. The
 * adapter's entry imports it first; when the app loaded LangChain earlier, LangChain keeps its own
 * storage and the install reaches the contexts created from the install's own.
 */
AsyncLocalStorageProviderSingleton.initializeGlobalInstance(new RootedStorage());

/** LangChain's storage when it is a `RootedStorage`. */
export function rootedStorage(): RootedStorage<unknown> | undefined {
  const storage: unknown = AsyncLocalStorageProviderSingleton.getInstance();
  return storage instanceof RootedStorage ? storage : undefined;
}
