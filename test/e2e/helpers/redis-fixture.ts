import { Redis, type RedisOptions } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';
import { startRedisServer, type RedisServer } from './redis-server.js';

/** A redis-server for one test file, with the clients and stores its tests open, all closed after it. */
export interface RedisFixture {
  readonly server: RedisServer;
  /** A client of the test's own, for inspecting and pausing Redis. */
  readonly admin: Redis;
  /** A new client, disconnected after the file. */
  client(options?: RedisOptions): Redis;
  /** Closes `store` after the file. */
  track<S extends { close(): Promise<void> }>(store: S): S;
}

/** Starts a redis-server before the file's tests (beforeAll) and stops it after them (afterAll). */
export function useRedisServer(): RedisFixture {
  let server: RedisServer | undefined;
  let admin: Redis | undefined;
  const clients: Redis[] = [];
  const stores: Array<{ close(): Promise<void> }> = [];
  beforeAll(async () => {
    server = await startRedisServer();
    admin = new Redis(server.port, '127.0.0.1');
  });
  afterAll(async () => {
    for (const store of stores) await store.close();
    for (const client of clients) client.disconnect();
    admin?.disconnect();
    await server?.stop();
  });
  return {
    get server() {
      return server!;
    },
    get admin() {
      return admin!;
    },
    client(options: RedisOptions = {}) {
      const redis = new Redis(server!.port, '127.0.0.1', options);
      clients.push(redis);
      return redis;
    },
    track(store) {
      stores.push(store);
      return store;
    },
  };
}
