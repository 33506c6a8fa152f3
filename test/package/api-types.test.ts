import { describe, expectTypeOf, it } from 'vitest';
import {
  AgentMeter,
  currentRun,
  QuotaExceededError,
  QuotaStoreUnavailableError,
  type QuotaSnapshot,
  type QuotaStore,
  type Run,
  type QuotaView,
} from '../../src/index.js';

// Checked by `tsc` (part of `npm test`): the public API's types are part of its contract.
describe('public API types', () => {
  it('run() returns the function result, wrap() keeps the signature, runParallel() settles', () => {
    const agentmeter = new AgentMeter();
    expectTypeOf(agentmeter.run('a', async () => 42)).toEqualTypeOf<Promise<number>>();
    expectTypeOf(agentmeter.run({ name: 'a' }, (run) => run.depth)).toEqualTypeOf<Promise<number>>();
    const wrapped = agentmeter.wrap('researcher', async (topic: string, limit: number) => [topic, limit] as const);
    expectTypeOf(wrapped).toEqualTypeOf<(topic: string, limit: number) => Promise<readonly [string, number]>>();
    expectTypeOf(agentmeter.runParallel([{ subagent: 'a', fn: async () => 'x' }])).toEqualTypeOf<Promise<Array<PromiseSettledResult<string>>>>();
    expectTypeOf(currentRun()).toEqualTypeOf<Run | undefined>();
    expectTypeOf(agentmeter.quota?.snapshot()).toEqualTypeOf<QuotaSnapshot | undefined>();
    expectTypeOf(agentmeter.quota).toEqualTypeOf<QuotaView | undefined>();
  });

  it('Run exposes what a subagent needs, read-only', () => {
    expectTypeOf<Run['signal']>().toEqualTypeOf<AbortSignal>();
    expectTypeOf<Run['recordUsage']>().parameter(0).toExtend<{ inputTokens?: number; outputTokens?: number; costUsd?: number }>();
    expectTypeOf<Run['recordTurn']>().parameters.toEqualTypeOf<[count?: number]>();
  });

  it('QuotaExceededError carries the decision', () => {
    expectTypeOf<QuotaExceededError['resource']>().toEqualTypeOf<
      'executions' | 'tokens' | 'costUsd' | 'wallTimeMs' | 'concurrent' | 'depth' | 'turns' | 'duration'
    >();
    expectTypeOf(QuotaExceededError.isInstance).guards.toEqualTypeOf<QuotaExceededError>();
  });

  it('the quota is a read view: no admission, charging or store on the public surface', () => {
    expectTypeOf<keyof QuotaView>().toEqualTypeOf<'mode' | 'limits' | 'levels' | 'snapshot' | 'unaccounted'>();
    expectTypeOf<QuotaView['unaccounted']>().returns.toEqualTypeOf<number>();
  });

  it('a QuotaStore may be sync or async and is generic over its own lease', () => {
    expectTypeOf<ReturnType<QuotaStore['settle']>>().toEqualTypeOf<void | Promise<void>>();
    expectTypeOf<Parameters<QuotaStore<{ id: string }>['charge']>[0]>().toEqualTypeOf<{ id: string }>();
  });

  it('QuotaStoreUnavailableError is recognised like QuotaExceededError', () => {
    expectTypeOf(QuotaStoreUnavailableError.isInstance).guards.toEqualTypeOf<QuotaStoreUnavailableError>();
  });
});
