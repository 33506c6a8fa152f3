import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { generateText, isStepCount, tool } from 'ai';
import { MockLanguageModelV4 } from 'ai/test';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { QUOTA_LIMIT_VARIABLES, readRegisterConfig } from '../../src/adapters/env-config.js';
import { registerFromEnv } from '../../src/adapters/register-from-env.js';
import { ROOT, ensureBuilt, freePort } from '../helpers/build.js';
import { docBlocks } from '../helpers/doc-blocks.js';
import { runNode } from '../helpers/node.js';

const usage = (input: number, output: number) => ({
  inputTokens: { total: input, noCache: input, cacheRead: 0, cacheWrite: 0 },
  outputTokens: { total: output, text: output, reasoning: 0 },
});

describe('readRegisterConfig', () => {
  it('defaults: enabled, Prometheus on 127.0.0.1:9464, every adapter, top-level runs, no quota', () => {
    expect(readRegisterConfig({})).toEqual({
      enabled: true,
      prometheus: { host: '127.0.0.1', port: 9464 },
      adapters: ['ai-sdk', 'openai-agents', 'langchain', 'mastra'],
      topLevel: true,
      quota: undefined,
      logLevel: undefined,
      warnings: [],
    });
  });

  it('reads every AGENTMETRY_* variable', () => {
    const config = readRegisterConfig({
      AGENTMETRY_PROMETHEUS_HOST: '0.0.0.0',
      AGENTMETRY_PROMETHEUS_PORT: '9000',
      AGENTMETRY_ADAPTERS: 'openai-agents',
      AGENTMETRY_TOP_LEVEL: 'false',
      AGENTMETRY_MAX_EXECUTIONS: '50',
      AGENTMETRY_MAX_TOKENS: '500000',
      AGENTMETRY_MAX_COST_USD: '5.5',
      AGENTMETRY_MAX_WALL_TIME_MS: '3600000',
      AGENTMETRY_MAX_CONCURRENT: '8',
      AGENTMETRY_MAX_DEPTH: '3',
      AGENTMETRY_MAX_TURNS_PER_RUN: '40',
      AGENTMETRY_MAX_DURATION_MS_PER_RUN: '120000',
      AGENTMETRY_QUOTA_SCOPE_BY: 'conversation',
      AGENTMETRY_QUOTA_MODE: 'observe',
      AGENTMETRY_QUOTA_WARN_AT: '0.8, 0.95',
      OTEL_LOG_LEVEL: 'DEBUG',
    });
    expect(config).toEqual({
      enabled: true,
      prometheus: { host: '0.0.0.0', port: 9000 },
      adapters: ['openai-agents'],
      topLevel: false,
      quota: {
        limits: {
          maxExecutions: 50,
          maxTokens: 500_000,
          maxCostUsd: 5.5,
          maxWallTimeMs: 3_600_000,
          maxConcurrent: 8,
          maxDepth: 3,
          maxTurnsPerRun: 40,
          maxDurationMsPerRun: 120_000,
        },
        scopeBy: 'conversation',
        mode: 'observe',
        warnAt: [0.8, 0.95],
      },
      logLevel: 'debug',
      warnings: [],
    });
  });

  it('turns off with AGENTMETRY_ENABLED=false or OTEL_SDK_DISABLED=true, and Prometheus with AGENTMETRY_PROMETHEUS=false', () => {
    expect(readRegisterConfig({ AGENTMETRY_ENABLED: 'false' }).enabled).toBe(false);
    expect(readRegisterConfig({ OTEL_SDK_DISABLED: 'true' }).enabled).toBe(false);
    expect(readRegisterConfig({ AGENTMETRY_PROMETHEUS: 'off' }).prometheus).toBe(false);
    expect(readRegisterConfig({ AGENTMETRY_ADAPTERS: 'none' }).adapters).toEqual([]);
  });

  it('ignores invalid values with a warning that names the variable, instead of throwing', () => {
    const config = readRegisterConfig({
      AGENTMETRY_PROMETHEUS_PORT: '99999',
      AGENTMETRY_MAX_TOKENS: 'lots',
      AGENTMETRY_MAX_EXECUTIONS: '10',
      AGENTMETRY_QUOTA_MODE: 'strict',
      AGENTMETRY_ADAPTERS: 'ai-sdk,crewai',
      AGENTMETRY_ENABLED: 'maybe',
      OTEL_LOG_LEVEL: 'loud',
    });
    expect(config.prometheus).toEqual({ host: '127.0.0.1', port: 9464 });
    expect(config.quota).toEqual({ limits: { maxExecutions: 10 } });
    expect(config.adapters).toEqual(['ai-sdk']);
    expect(config.enabled).toBe(true);
    expect(config.logLevel).toBeUndefined();
    for (const name of [
      'AGENTMETRY_PROMETHEUS_PORT',
      'AGENTMETRY_MAX_TOKENS',
      'AGENTMETRY_QUOTA_MODE',
      'AGENTMETRY_ADAPTERS',
      'AGENTMETRY_ENABLED',
      'OTEL_LOG_LEVEL',
    ]) {
      expect(config.warnings.some((warning) => warning.startsWith(name))).toBe(true);
    }
  });
  it("checks each limit variable with the core's rule, so that one bad value drops that limit alone", () => {
    for (const [name, { limit, expected }] of Object.entries(QUOTA_LIMIT_VARIABLES)) {
      // With one valid limit beside it, so that a quota remains.
      const other = name === 'AGENTMETRY_MAX_DEPTH' ? 'AGENTMETRY_MAX_CONCURRENT' : 'AGENTMETRY_MAX_DEPTH';
      const fraction = readRegisterConfig({ [name]: '1.5', [other]: '2' });
      // What the message says is expected is what the core accepts.
      if (expected === 'a non-negative integer') {
        expect(fraction.warnings, name).toEqual([
          expect.stringMatching(new RegExp(`^${name}=1\\.5 is not a non-negative integer; ignored: no [a-z-]+ limit applies$`)),
        ]);
        expect(fraction.quota?.limits?.[limit], name).toBeUndefined();
      } else {
        expect(fraction.warnings, name).toEqual([]);
        expect(fraction.quota?.limits?.[limit], name).toBe(1.5);
      }
      for (const bad of ['abc', '-1', 'Infinity', '10k']) {
        const config = readRegisterConfig({ [name]: bad, [other]: '2' });
        expect(config.warnings, `${name}=${bad}`).toHaveLength(1);
        expect(
          config.warnings.some((warning) => warning.startsWith(`${name}=${bad} is not ${expected}; ignored`)),
          `${name}=${bad}`,
        ).toBe(true);
      }
    }
    expect(readRegisterConfig({ AGENTMETRY_MAX_TOKENS: '1e6' }).quota).toEqual({ limits: { maxTokens: 1_000_000 } });
  });

  it('names a misspelt quota variable and the one it probably meant', () => {
    const config = readRegisterConfig({
      AGENTMETRY_MAX_TOKEN: '500',
      AGENTMETRY_QUOTA_SCOPE: 'conversation',
      AGENTMETRY_MAX_CONCURRENT: '2',
      AGENTMETRY_LISTEN_HOST: '0.0.0.0',
    });
    expect(config.quota).toEqual({ limits: { maxConcurrent: 2 } });
    expect(config.warnings).toEqual([
      'AGENTMETRY_MAX_TOKEN is not a variable agentmetry reads (did you mean AGENTMETRY_MAX_TOKENS?); ignored',
      'AGENTMETRY_QUOTA_SCOPE is not a variable agentmetry reads (did you mean AGENTMETRY_QUOTA_SCOPE_BY?); ignored',
    ]);
  });

  it('says when quota variables are set but no valid limit is: the app runs without quotas', () => {
    expect(readRegisterConfig({ AGENTMETRY_MAX_TOKENS: 'abc' }).warnings).toEqual([
      'AGENTMETRY_MAX_TOKENS=abc is not a non-negative integer; ignored: no token limit applies',
      'no AGENTMETRY_MAX_* variable sets a valid limit: the app runs without quotas',
    ]);
    const modeOnly = readRegisterConfig({ AGENTMETRY_QUOTA_MODE: 'observe' });
    expect(modeOnly.quota).toBeUndefined();
    expect(modeOnly.warnings).toEqual(['no AGENTMETRY_MAX_* variable sets a valid limit: the app runs without quotas']);
    // An invalid AGENTMETRY_QUOTA_* value is reported even without limits.
    expect(readRegisterConfig({ AGENTMETRY_QUOTA_WARN_AT: '80%' }).warnings[0]).toBe(
      'AGENTMETRY_QUOTA_WARN_AT=80% is not a comma-separated list of fractions in (0, 1]; ignored: no quota warnings',
    );
  });
});

describe('docs/register.md', () => {
  it('shows stderr lines that the register entry prints', () => {
    const sample = docBlocks('text', ['docs/register.md'])[0]!;
    const printed = readRegisterConfig({ AGENTMETRY_MAX_TOKENS: 'abc', AGENTMETRY_MAX_TOKEN: '500000' }).warnings.map(
      (warning) => `agentmetry/register: ${warning}`,
    );
    expect(sample.code.split('\n').filter((line) => !printed.includes(line))).toEqual([]);
  });
});

describe('registerFromEnv', () => {
  it('starts telemetry, installs the adapters of the installed frameworks and serves their runs on /metrics', async () => {
    const port = await freePort();
    const registration = await registerFromEnv({ AGENTMETRY_PROMETHEUS_PORT: String(port), AGENTMETRY_MAX_EXECUTIONS: '2' });
    expect(registration).toBeDefined();
    try {
      expect(registration!.adapters).toEqual(['ai-sdk', 'openai-agents', 'langchain', 'mastra']);
      await registration!.telemetry.ready;
      const research = tool({
        description: 'research',
        inputSchema: z.object({ topic: z.string() }),
        execute: async ({ topic }) =>
          (
            await generateText({
              model: new MockLanguageModelV4({
                doGenerate: [{ content: [{ type: 'text', text: topic }], finishReason: { unified: 'stop', raw: 'stop' }, usage: usage(5, 5), warnings: [] }],
              }),
              prompt: topic,
            })
          ).text,
      });
      const call = (id: string) => ({
        content: [{ type: 'tool-call' as const, toolCallId: id, toolName: 'research', input: '{"topic":"t"}' }],
        finishReason: { unified: 'tool-calls' as const, raw: 'tool_calls' },
        usage: usage(1, 1),
        warnings: [],
      });
      const result = await generateText({
        model: new MockLanguageModelV4({
          doGenerate: [
            call('a'),
            call('b'),
            { content: [{ type: 'text', text: 'done' }], finishReason: { unified: 'stop', raw: 'stop' }, usage: usage(1, 1), warnings: [] },
          ],
        }),
        prompt: 'go',
        tools: { research },
        stopWhen: isStepCount(4),
        telemetry: { functionId: 'planner' },
      });
      expect(result.text).toBe('done');
      // maxExecutions 2 from the environment: the planner and one researcher; the second is denied.
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      expect(text).toMatch(/subagent_executions_total\{[^}]*gen_ai_agent_name="research"[^}]*subagent_outcome="ok"[^}]*\} 1/);
      expect(text).toMatch(/subagent_executions_total\{[^}]*gen_ai_agent_name="research"[^}]*subagent_outcome="denied"[^}]*\} 1/);
      expect(text).toMatch(/subagent_executions_total\{[^}]*gen_ai_agent_name="planner"[^}]*subagent_outcome="ok"[^}]*\} 1/);
    } finally {
      await registration!.shutdown();
    }
  });

  it('resolves undefined and starts nothing when disabled', async () => {
    expect(await registerFromEnv({ AGENTMETRY_ENABLED: 'false' })).toBeUndefined();
  });
});

describe('node --import agentmetry/register', () => {
  it('instruments an unmodified app from the environment alone', async () => {
    await ensureBuilt();
    const port = await freePort();
    // Inside the project, so that the app's bare imports resolve to the same (ESM) copies of the frameworks.
    mkdirSync(`${ROOT}.cache`, { recursive: true });
    const dir = mkdtempSync(`${ROOT}.cache/register-app-`);
    // The app knows nothing about agentmetry: it runs an agent with a subagent tool, then reads
    // its own /metrics endpoint (served by the register entry) and prints it.
    writeFileSync(
      `${dir}/app.mjs`,
      `import { Agent, run, Usage } from '@openai/agents';
import { ScriptedModel, modelResponse, assistantMessage, functionCall } from '@openai/agents/testing';
const usage = (i, o) => new Usage({ requests: 1, input_tokens: i, output_tokens: o, total_tokens: i + o });
const helper = new Agent({ name: 'Helper', instructions: 'h', model: new ScriptedModel([modelResponse({ output: [assistantMessage('fact')], usage: usage(7, 3) })]) });
const boss = new Agent({ name: 'Boss', instructions: 'b', tools: [helper.asTool({ toolName: 'helper', toolDescription: 'h' })],
  model: new ScriptedModel([modelResponse({ output: [functionCall('helper', { input: 'x' }, { callId: 'c1' })], usage: usage(10, 2) }), modelResponse({ output: [assistantMessage('done')], usage: usage(20, 4) })]) });
const result = await run(boss, 'go');
const metrics = await (await fetch('http://127.0.0.1:${port}/metrics')).text();
console.log(JSON.stringify({ output: result.finalOutput, metrics }));
process.exit(0);
`,
    );
    const child = spawn(process.execPath, ['--import', `${ROOT}dist/register.js`, `${dir}/app.mjs`], {
      env: { ...process.env, NODE_ENV: 'production', AGENTMETRY_PROMETHEUS_PORT: String(port), OTEL_SERVICE_NAME: 'register-test' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    rmSync(dir, { recursive: true, force: true });
    expect(stderr).not.toContain('agentmetry');
    expect(code, stderr).toBe(0);
    const { output, metrics } = JSON.parse(stdout) as { output: string; metrics: string };
    expect(output).toBe('done');
    expect(metrics).toMatch(/subagent_executions_total\{[^}]*gen_ai_agent_name="Boss"[^}]*subagent_depth="0"[^}]*subagent_outcome="ok"[^}]*\} 1/);
    expect(metrics).toMatch(/subagent_executions_total\{[^}]*gen_ai_agent_name="Helper"[^}]*subagent_depth="1"[^}]*subagent_outcome="ok"[^}]*\} 1/);
    expect(metrics).toMatch(/subagent_tokens_sum\{[^}]*gen_ai_agent_name="Helper"[^}]*gen_ai_token_type="input"[^}]*\} 7/);
  }, 120_000);

  // The install happens in the preloaded module's async context, which on Node 24 does not reach
  // the app's: the adapter's storage makes LangChain see it all the same.
  it('instruments an unmodified LangChain app, subagent tools and the quota refusal included', async () => {
    await ensureBuilt();
    const port = await freePort();
    mkdirSync(`${ROOT}.cache`, { recursive: true });
    const dir = mkdtempSync(`${ROOT}.cache/register-langchain-`);
    writeFileSync(
      `${dir}/app.mjs`,
      `import { AIMessage, createAgent, tool } from 'langchain';
import { fakeModel } from '@langchain/core/testing';
import { z } from 'zod';
const usage = (i, o) => ({ input_tokens: i, output_tokens: o, total_tokens: i + o });
const agentTool = (name, agent) => tool(async ({ task }) => (await agent.invoke({ messages: [{ role: 'user', content: task }] })).messages.at(-1).text,
  { name, description: name, schema: z.object({ task: z.string() }) });
const helperModel = fakeModel().respond(new AIMessage({ content: 'fact', usage_metadata: usage(7, 3) }));
const helper = createAgent({ name: 'helper', model: helperModel, tools: [] });
const spareModel = fakeModel().respond(new AIMessage({ content: 'never', usage_metadata: usage(1, 1) }));
const spare = createAgent({ name: 'spare', model: spareModel, tools: [] });
const call = (name, id) => new AIMessage({ content: '', tool_calls: [{ name, args: { task: 'x' }, id, type: 'tool_call' }], usage_metadata: usage(10, 2) });
const bossModel = fakeModel().respond(call('helper', 'c1')).respond(call('spare', 'c2')).respond(new AIMessage({ content: 'done', usage_metadata: usage(20, 4) }));
const boss = createAgent({ name: 'boss', model: bossModel, tools: [agentTool('helper', helper), agentTool('spare', spare)] });
const result = await boss.invoke({ messages: [{ role: 'user', content: 'go' }] });
const metrics = await (await fetch('http://127.0.0.1:${port}/metrics')).text();
console.log(JSON.stringify({ output: result.messages.at(-1).text, spareCalls: spareModel.calls.length, sawRefusal: JSON.stringify(bossModel.calls[2].messages).includes('Quota exceeded'), metrics }));
process.exit(0);
`,
    );
    // maxExecutions 2: the boss and the helper; the spare subagent is refused.
    const { code, stdout, stderr } = await runNode(['--import', `${ROOT}dist/register.js`, `${dir}/app.mjs`], {
      ...process.env,
      NODE_ENV: 'production',
      AGENTMETRY_PROMETHEUS_PORT: String(port),
      AGENTMETRY_MAX_EXECUTIONS: '2',
      OTEL_SERVICE_NAME: 'register-test',
    });
    rmSync(dir, { recursive: true, force: true });
    expect(code, stderr).toBe(0);
    const { output, spareCalls, sawRefusal, metrics } = JSON.parse(stdout) as { output: string; spareCalls: number; sawRefusal: boolean; metrics: string };
    expect([output, spareCalls, sawRefusal]).toEqual(['done', 0, true]);
    expect(metrics).toMatch(/subagent_executions_total\{[^}]*gen_ai_agent_name="boss"[^}]*subagent_depth="0"[^}]*subagent_outcome="ok"[^}]*\} 1/);
    expect(metrics).toMatch(/subagent_executions_total\{[^}]*gen_ai_agent_name="helper"[^}]*subagent_depth="1"[^}]*subagent_outcome="ok"[^}]*\} 1/);
    expect(metrics).toMatch(/subagent_executions_total\{[^}]*gen_ai_agent_name="spare"[^}]*subagent_outcome="denied"[^}]*\} 1/);
    expect(metrics).toMatch(/subagent_tokens_sum\{[^}]*gen_ai_agent_name="helper"[^}]*gen_ai_token_type="input"[^}]*\} 7/);
  }, 120_000);

  it('instruments an unmodified Mastra app, delegations and the quota refusal included', async () => {
    await ensureBuilt();
    const port = await freePort();
    mkdirSync(`${ROOT}.cache`, { recursive: true });
    const dir = mkdtempSync(`${ROOT}.cache/register-mastra-`);
    writeFileSync(
      `${dir}/app.mjs`,
      `import { Agent } from '@mastra/core/agent';
import { MockLanguageModelV3 } from 'ai6/test';
const usage = (i, o) => ({ inputTokens: { total: i, noCache: i, cacheRead: 0, cacheWrite: 0 }, outputTokens: { total: o, text: o, reasoning: 0 } });
const say = (text, i, o) => ({ content: [{ type: 'text', text }], finishReason: { unified: 'stop', raw: 'stop' }, usage: usage(i, o), warnings: [] });
const call = (toolName, toolCallId) => ({ content: [{ type: 'tool-call', toolCallId, toolName, input: JSON.stringify({ prompt: 'x' }) }], finishReason: { unified: 'tool-calls', raw: 'tool_calls' }, usage: usage(10, 2), warnings: [] });
const helper = new Agent({ id: 'helper', name: 'helper', instructions: 'h', model: new MockLanguageModelV3({ doGenerate: [say('fact', 7, 3)] }) });
const spareModel = new MockLanguageModelV3({ doGenerate: [say('never', 1, 1)] });
const spare = new Agent({ id: 'spare', name: 'spare', instructions: 's', model: spareModel });
const bossModel = new MockLanguageModelV3({ doGenerate: [call('agent-helper', 'c1'), call('agent-spare', 'c2'), say('done', 20, 4)] });
const boss = new Agent({ id: 'boss', name: 'boss', instructions: 'b', model: bossModel, agents: { helper, spare } });
const result = await boss.generate('go', { maxSteps: 5 });
const metrics = await (await fetch('http://127.0.0.1:${port}/metrics')).text();
console.log(JSON.stringify({ output: result.text, spareCalls: spareModel.doGenerateCalls.length, sawRefusal: JSON.stringify(bossModel.doGenerateCalls[2].prompt).includes('[Delegation Rejected] Quota exceeded'), metrics }));
process.exit(0);
`,
    );
    // maxExecutions 2: the boss and the helper; the spare delegation is refused.
    const { code, stdout, stderr } = await runNode(['--import', `${ROOT}dist/register.js`, `${dir}/app.mjs`], {
      ...process.env,
      NODE_ENV: 'production',
      AGENTMETRY_PROMETHEUS_PORT: String(port),
      AGENTMETRY_MAX_EXECUTIONS: '2',
      OTEL_SERVICE_NAME: 'register-test',
    });
    rmSync(dir, { recursive: true, force: true });
    expect(code, stderr).toBe(0);
    const { output, spareCalls, sawRefusal, metrics } = JSON.parse(stdout) as { output: string; spareCalls: number; sawRefusal: boolean; metrics: string };
    expect([output, spareCalls, sawRefusal]).toEqual(['done', 0, true]);
    expect(metrics).toMatch(/subagent_executions_total\{[^}]*gen_ai_agent_name="boss"[^}]*subagent_depth="0"[^}]*subagent_outcome="ok"[^}]*\} 1/);
    expect(metrics).toMatch(/subagent_executions_total\{[^}]*gen_ai_agent_name="helper"[^}]*subagent_depth="1"[^}]*subagent_outcome="ok"[^}]*\} 1/);
    expect(metrics).toMatch(/subagent_executions_total\{[^}]*gen_ai_agent_name="spare"[^}]*subagent_outcome="denied"[^}]*\} 1/);
    expect(metrics).toMatch(/subagent_tokens_sum\{[^}]*gen_ai_agent_name="helper"[^}]*gen_ai_token_type="input"[^}]*\} 7/);
  }, 120_000);

  // A budget that silently does not apply is the worst failure of a budget package: every invalid
  // variable is printed on stderr whatever OTEL_LOG_LEVEL says, and the valid ones still apply.
  describe('an invalid AGENTMETRY_* variable', () => {
    const BAD = {
      AGENTMETRY_MAX_TOKENS: 'abc',
      AGENTMETRY_MAX_EXECUTIONS: '1.5',
      AGENTMETRY_MAX_TOKEN: '100',
      AGENTMETRY_QUOTA_MODE: 'strict',
      AGENTMETRY_MAX_CONCURRENT: '3',
      AGENTMETRY_MAX_COST_USD: '2.5',
    };
    const LINES = [
      'agentmetry/register: AGENTMETRY_MAX_EXECUTIONS=1.5 is not a non-negative integer; ignored: no execution limit applies',
      'agentmetry/register: AGENTMETRY_MAX_TOKENS=abc is not a non-negative integer; ignored: no token limit applies',
      'agentmetry/register: AGENTMETRY_MAX_TOKEN is not a variable agentmetry reads (did you mean AGENTMETRY_MAX_TOKENS?); ignored',
      'agentmetry/register: AGENTMETRY_QUOTA_MODE=strict is not enforce or observe; using enforce',
    ];
    // The app reads what the register entry set up through its public `registration`.
    const app = `import { registration } from 'agentmetry/register';
const setup = await registration;
console.log(JSON.stringify({ limits: setup.agentmeter.quota?.limits, mode: setup.agentmeter.quota?.mode }));
await setup.shutdown();
`;

    it.each([
      ['unset', undefined],
      ['none', 'none'],
      ['warn', 'warn'],
    ])(
      'is reported once on stderr with OTEL_LOG_LEVEL %s, and the other limits apply',
      async (_level, level) => {
        await ensureBuilt();
        mkdirSync(`${ROOT}.cache`, { recursive: true });
        const dir = mkdtempSync(`${ROOT}.cache/register-bad-env-`);
        writeFileSync(`${dir}/app.mjs`, app);
        const env: Record<string, string | undefined> = { ...process.env, ...BAD, AGENTMETRY_PROMETHEUS: 'false', OTEL_LOG_LEVEL: level };
        if (level === undefined) delete env.OTEL_LOG_LEVEL;
        const { code, stdout, stderr } = await runNode(['--import', `${ROOT}dist/register.js`, `${dir}/app.mjs`], env);
        rmSync(dir, { recursive: true, force: true });
        expect(code, stderr).toBe(0);
        expect(JSON.parse(stdout)).toEqual({ limits: { maxConcurrent: 3, maxCostUsd: 2.5 }, mode: 'enforce' });
        const lines = stderr.split('\n').filter((line) => line.includes('AGENTMETRY_'));
        expect(lines.sort()).toEqual([...LINES].sort());
      },
      60_000,
    );
  });
});
