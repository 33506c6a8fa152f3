import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadWorkload, MissingFrameworkError } from '../../src/cli/workload.js';
import { ROOT, ensureBuilt, freePort } from '../helpers/build.js';
import { startOtlpSink, type OtlpSink } from '../helpers/net.js';
import { attribute, parseLine, perSecondLines, spans, start, startCli, executionsByOutcome, sumBy, type OtlpMetricsRequest } from './helpers.js';

describe('agentmetry demo --adapter (built)', () => {
  let sink: OtlpSink | undefined;
  let folder: string;

  beforeAll(async () => {
    await ensureBuilt();
    folder = mkdtempSync(join(tmpdir(), 'agentmetry-demo-adapters-'));
  }, 300_000);

  afterEach(async () => {
    await sink?.close();
    sink = undefined;
  });

  afterAll(() => rmSync(folder, { recursive: true, force: true }));

  it('openai-agents runs the same workload on the OpenAI Agents SDK: nested invoke_agent spans, metrics with turns and tokens', async () => {
    sink = await startOtlpSink();
    const port = await freePort();
    const run = startCli(['demo', '--adapter', 'openai-agents', '--duration', '3', '--speed', '10', '--port', String(port), '--otlp', sink.url]);
    expect(await run.exit).toBe(0);
    const { stdout, stderr } = run.output();
    expect(stderr).toBe('');
    expect(stdout.split('\n')[0]).toContain('agentmetry demo: openai-agents workload');

    const all = spans(sink.received.get('/v1/traces') ?? []);
    const byId = new Map(all.map((span) => [span.spanId, span]));
    const agents = all.filter((span) => span.name.startsWith('invoke_agent '));
    const depthOf = (name: string) =>
      new Set(agents.filter((span) => span.name === `invoke_agent ${name}`).map((span) => attribute(span.attributes, 'subagent.depth')));
    expect(depthOf('planner')).toEqual(new Set([0]));
    expect(depthOf('researcher')).toEqual(new Set([1]));
    expect(depthOf('helper')).toEqual(new Set([2]));
    // A researcher's span is a child of its planner's: agent tools nest under the run that called them.
    const researcher = agents.find((span) => span.name === 'invoke_agent researcher' && attribute(span.attributes, 'subagent.outcome') === 'ok')!;
    expect(byId.get(researcher.parentSpanId!)?.name).toBe('invoke_agent planner');
    expect(attribute(researcher.attributes, 'gen_ai.usage.input_tokens')).toBeGreaterThan(0);
    expect(attribute(researcher.attributes, 'subagent.turns')).toBeGreaterThan(0);

    const exported = sink.received.get('/v1/metrics')!.at(-1) as OtlpMetricsRequest;
    const executions = sumBy(exported, 'subagent.executions', 'gen_ai.agent.name');
    expect(executions.planner).toBeGreaterThan(0);
    expect(executions.researcher).toBeGreaterThan(0);
    expect(executions.helper).toBeGreaterThan(0);
    const final = parseLine(perSecondLines(stdout).at(-1)!);
    expect(final.tokens).toBeGreaterThan(0);
    expect(final.executions).toEqual(executionsByOutcome(exported));
    expect(final.denials).toEqual(sumBy(exported, 'subagent.quota.denials', 'quota.resource'));
  }, 60_000);

  it.each([
    ['ai-sdk', 'the Vercel AI SDK', 'npm install ai@7'],
    ['openai-agents', 'the OpenAI Agents SDK', 'npm install @openai/agents'],
  ])('--adapter %s without its framework installed: one line with the npm command, exit 1', async (adapter, framework, command) => {
    const app = join(folder, `without-${adapter}`);
    mkdirSync(join(app, 'node_modules', '@opentelemetry'), { recursive: true });
    writeFileSync(join(app, 'package.json'), '{ "private": true, "type": "module" }');
    cpSync(join(ROOT, 'dist'), join(app, 'node_modules', 'agentmetry', 'dist'), { recursive: true });
    cpSync(join(ROOT, 'package.json'), join(app, 'node_modules', 'agentmetry', 'package.json'));
    for (const name of readdirSync(join(ROOT, 'node_modules', '@opentelemetry'))) {
      symlinkSync(join(ROOT, 'node_modules', '@opentelemetry', name), join(app, 'node_modules', '@opentelemetry', name));
    }
    const port = await freePort();
    // The app's copy of the command, which finds no framework next to it.
    const run = start(
      process.execPath,
      [join(app, 'node_modules', 'agentmetry', 'dist', 'cli', 'main.js'), 'demo', '--adapter', adapter, '--port', String(port)],
      {
        cwd: app,
      },
    );
    expect(await run.exit).toBe(1);
    expect(run.output()).toEqual({ stdout: '', stderr: `agentmetry demo: --adapter ${adapter} runs on ${framework}, which is not installed: ${command}\n` });
  });
});

describe('loadWorkload', () => {
  it('names the npm command when the framework package is missing, and passes other load errors on', async () => {
    const notFound = Object.assign(
      new Error("Cannot find package '@openai/agents' imported from /app/node_modules/agentmetry/dist/cli/openai-agents-workload.js"),
      {
        code: 'ERR_MODULE_NOT_FOUND',
      },
    );
    await expect(loadWorkload('openai-agents', () => Promise.reject(notFound))).rejects.toThrow(
      new MissingFrameworkError('--adapter openai-agents runs on the OpenAI Agents SDK, which is not installed: npm install @openai/agents'),
    );
    const broken = new SyntaxError('Unexpected token');
    await expect(loadWorkload('ai-sdk', () => Promise.reject(broken))).rejects.toBe(broken);
  });

  it('names the version to install when the installed framework lacks what the demo imports (ai 6 for the AI SDK 7 mock model)', async () => {
    const olderMajor = new SyntaxError("The requested module 'ai/test' does not provide an export named 'MockLanguageModelV4'");
    await expect(loadWorkload('ai-sdk', () => Promise.reject(olderMajor))).rejects.toThrow(
      new MissingFrameworkError(
        '--adapter ai-sdk needs ai@7: the installed ai/test has no export MockLanguageModelV4 (another major version): npm install ai@7',
      ),
    );
    // Another package's missing export is not the framework's.
    const other = new SyntaxError("The requested module 'zod' does not provide an export named 'z'");
    await expect(loadWorkload('ai-sdk', () => Promise.reject(other))).rejects.toBe(other);
  });
});
