import { spawn } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { describe, expect, it } from 'vitest';
import { ROOT, ensureBuilt, freePort } from '../helpers/build.js';

/** Runs `node args` in `cwd` (where `--import agentmetry/register` resolves the app's install). */
async function runNodeIn(cwd: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  return { code, stdout, stderr };
}

/**
 * An app installed the way npm installs it: `ai` (here AI SDK 5 or 6, under its own name) and
 * `agentmetry` (a copy of the built package) side by side in its node_modules, so that the
 * adapter's own `import 'ai'` resolves the app's copy, as in a real install.
 */
function installApp(aiPackage: 'ai5' | 'ai6'): string {
  const dir = mkdtempSync(`${tmpdir()}/agentmetry-ai-sdk-register-`);
  mkdirSync(`${dir}/node_modules/agentmetry`, { recursive: true });
  cpSync(`${ROOT}package.json`, `${dir}/node_modules/agentmetry/package.json`);
  cpSync(`${ROOT}dist`, `${dir}/node_modules/agentmetry/dist`, { recursive: true });
  symlinkSync(`${ROOT}node_modules/@opentelemetry`, `${dir}/node_modules/@opentelemetry`);
  symlinkSync(`${ROOT}node_modules/${aiPackage}`, `${dir}/node_modules/ai`);
  return dir;
}

describe("node --import agentmetry/register with AI SDK 5 or 6 as the app's ai", () => {
  it.each([
    ['ai5', 'Experimental_Agent', `{ inputTokens: i, outputTokens: o, totalTokens: i + o }`, `'tool-calls'`, `'stop'`, 'MockLanguageModelV2'],
    [
      'ai6',
      'ToolLoopAgent',
      `{ inputTokens: { total: i, noCache: i, cacheRead: 0, cacheWrite: 0 }, outputTokens: { total: o, text: o, reasoning: 0 } }`,
      `{ unified: 'tool-calls', raw: 'tool_calls' }`,
      `{ unified: 'stop', raw: 'stop' }`,
      'MockLanguageModelV3',
    ],
  ] as const)(
    '%s: instruments an unmodified app, its subagent nested and its tool call recorded',
    async (aiPackage, Agent, usage, toolCalls, stop, Mock) => {
      await ensureBuilt();
      const port = await freePort();
      const dir = installApp(aiPackage);
      try {
        // The app knows nothing about agentmetry: an orchestrator agent whose tool runs a subagent,
        // then it reads its own /metrics endpoint (served by the register entry) and prints it.
        writeFileSync(
          `${dir}/app.mjs`,
          `import { ${Agent} as Agent, jsonSchema, stepCountIs, tool } from 'ai';
import { ${Mock} as Mock } from 'ai/test';
const usage = (i, o) => (${usage});
const say = (text, i, o) => ({ content: [{ type: 'text', text }], finishReason: ${stop}, usage: usage(i, o), warnings: [] });
const research = tool({
  description: 'research',
  inputSchema: jsonSchema({ type: 'object', properties: { topic: { type: 'string' } } }),
  execute: async ({ topic }) => (await new Agent({ model: new Mock({ doGenerate: [say('notes', 7, 3)] }), experimental_telemetry: { functionId: 'researcher' } }).generate({ prompt: topic })).text,
});
const call = { type: 'tool-call', toolCallId: 'c1', toolName: 'research', input: JSON.stringify({ topic: 't' }) };
const boss = new Agent({
  model: new Mock({ doGenerate: [{ content: [call], finishReason: ${toolCalls}, usage: usage(10, 2), warnings: [] }, say('done', 20, 4)] }),
  tools: { research },
  stopWhen: stepCountIs(3),
  experimental_telemetry: { functionId: 'boss' },
});
const result = await boss.generate({ prompt: 'go' });
const metrics = await (await fetch('http://127.0.0.1:${port}/metrics')).text();
console.log(JSON.stringify({ output: result.text, metrics }));
process.exit(0);
`,
        );
        const { code, stdout, stderr } = await runNodeIn(dir, ['--import', 'agentmetry/register', 'app.mjs'], {
          ...process.env,
          NODE_ENV: 'production',
          AGENTMETRY_PROMETHEUS_PORT: String(port),
          OTEL_SERVICE_NAME: 'register-test',
        });
        expect(stderr).not.toContain('agentmetry');
        expect(code, stderr).toBe(0);
        const { output, metrics } = JSON.parse(stdout) as { output: string; metrics: string };
        expect(output).toBe('done');
        expect(metrics).toMatch(/subagent_executions_total\{[^}]*gen_ai_agent_name="boss"[^}]*subagent_depth="0"[^}]*subagent_outcome="ok"[^}]*\} 1/);
        expect(metrics).toMatch(/subagent_executions_total\{[^}]*gen_ai_agent_name="researcher"[^}]*subagent_depth="1"[^}]*subagent_outcome="ok"[^}]*\} 1/);
        expect(metrics).toMatch(/subagent_tokens_sum\{[^}]*gen_ai_agent_name="researcher"[^}]*gen_ai_token_type="input"[^}]*\} 7/);
        expect(metrics).toMatch(/subagent_tool_duration_seconds_count\{[^}]*gen_ai_agent_name="boss"[^}]*gen_ai_tool_name="research"[^}]*\} 1/);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
    120_000,
  );
});
