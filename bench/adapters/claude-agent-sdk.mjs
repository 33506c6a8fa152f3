// What agentmetry/claude-agent-sdk adds to one Claude Agent SDK call: a query whose main thread spawns
// one subagent (an Agent tool use), run by the real Claude Code CLI against a loopback fake of the
// Messages API, with the instrumented query against the SDK's own (the CLI's telemetry off on both
// sides). A and B rounds alternate in one process. Each call spawns the CLI, so a call takes about a
// second and varies by tens of milliseconds: the note gives that spread next to the difference.
// Usage: node bench/adapters/claude-agent-sdk.mjs [--quick]   (imports the built package: npm run build first)
// Prints one JSON line: {"framework", "call", "baselineUsPerCall", "adapterUsPerCall", "ratio", "note"}.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as sdk from '@anthropic-ai/claude-agent-sdk';
import { instrumentClaudeAgentSdk } from '../../dist/adapters/claude-agent-sdk/index.js';
import { alternate, createAgentMeter, expectTwoRunsPerCall, frameworkVersion, printResult, quick } from '../harness.mjs';

const ROUNDS = quick ? 5 : 9;
const CALLS = quick ? 2 : 3;

/**
 * A loopback fake of `POST /v1/messages` (streaming and not): the main thread spawns the
 * `researcher` subagent, then answers once it has the tool's result; the subagent answers at once.
 */
async function startFakeAnthropic() {
  let messages = 0;
  const server = createServer(async (request, response) => {
    let text = '';
    for await (const chunk of request) text += String(chunk);
    const body = text === '' ? {} : JSON.parse(text);
    if (request.method !== 'POST' || !request.url.startsWith('/v1/messages') || request.url.includes('count_tokens')) {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ input_tokens: 10 }));
      return;
    }
    const system = JSON.stringify(body.system ?? '');
    const answered = JSON.stringify(body.messages ?? []).includes('tool_result');
    let content;
    if (system.includes('RESEARCHER_AGENT')) content = [{ type: 'text', text: 'a fact' }];
    else if (!answered && (body.tools ?? []).some((tool) => tool.name === 'Agent'))
      content = [{ type: 'tool_use', id: 'toolu_1', name: 'Agent', input: { description: 'research it', prompt: 'find it', subagent_type: 'researcher' } }];
    else content = [{ type: 'text', text: 'report' }];
    const stop = content[0].type === 'tool_use' ? 'tool_use' : 'end_turn';
    const usage = { input_tokens: 20, output_tokens: 5 };
    messages += 1;
    const message = {
      id: `msg_${messages}`,
      type: 'message',
      role: 'assistant',
      model: body.model ?? 'claude-test',
      content: [],
      stop_reason: null,
      stop_sequence: null,
    };
    if (body.stream !== true) {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ ...message, content, stop_reason: stop, usage }));
      return;
    }
    response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    const event = (type, data) => response.write(`event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`);
    event('message_start', { message: { ...message, usage: { input_tokens: usage.input_tokens, output_tokens: 0 } } });
    content.forEach((block, index) => {
      if (block.type === 'text') {
        event('content_block_start', { index, content_block: { type: 'text', text: '' } });
        event('content_block_delta', { index, delta: { type: 'text_delta', text: block.text } });
      } else {
        event('content_block_start', { index, content_block: { type: 'tool_use', id: block.id, name: block.name, input: {} } });
        event('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json: JSON.stringify(block.input) } });
      }
      event('content_block_stop', { index });
    });
    event('message_delta', { delta: { stop_reason: stop, stop_sequence: null }, usage: { output_tokens: usage.output_tokens } });
    event('message_stop', {});
    response.end();
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    close: () => new Promise((resolve) => (server.closeAllConnections(), server.close(resolve))),
  };
}

const fake = await startFakeAnthropic();
const directory = mkdtempSync(join(tmpdir(), 'agentmetry-bench-claude-'));
/** Offline options: the CLI's own config and working directory, no traffic but the fake's, no telemetry, no prompts. */
const options = {
  cwd: directory,
  env: {
    ...process.env,
    ANTHROPIC_BASE_URL: fake.url,
    ANTHROPIC_API_KEY: 'sk-ant-bench',
    CLAUDE_CONFIG_DIR: join(directory, '.claude'),
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
    CLAUDE_CODE_DISABLE_BACKGROUND_TASKS: '1',
    DISABLE_AUTOUPDATER: '1',
    DISABLE_TELEMETRY: '1',
    CLAUDE_CODE_ENABLE_TELEMETRY: '0',
  },
  model: 'claude-sonnet-4-5',
  maxTurns: 4,
  allowedTools: ['Agent'],
  settingSources: [],
  agents: { researcher: { description: 'the researcher agent', prompt: 'You are RESEARCHER_AGENT.', tools: [] } },
};

async function call(query) {
  let result;
  for await (const message of query({ prompt: 'go', options })) if (message.type === 'result') result = message;
  if (result?.subtype !== 'success' || result.result !== 'report') throw new Error(`unexpected result ${JSON.stringify(result)}`);
}

/** Per-call times of each side, in ns. */
const times = { baseline: [], adapter: [] };
const sides = {
  async baseline(calls, keep) {
    for (let index = 0; index < calls; index++) {
      const start = process.hrtime.bigint();
      await call(sdk.query);
      if (keep) times.baseline.push(Number(process.hrtime.bigint() - start));
    }
  },
  async adapter(calls, keep) {
    const { agentmeter, reader } = createAgentMeter();
    const { query, uninstall } = instrumentClaudeAgentSdk(agentmeter, sdk);
    for (let index = 0; index < calls; index++) {
      const start = process.hrtime.bigint();
      await call(query);
      if (keep) times.adapter.push(Number(process.hrtime.bigint() - start));
    }
    uninstall();
    // Every call was recorded: the query's run and its subagent's.
    await expectTwoRunsPerCall(agentmeter, reader, calls);
  },
};

const mean = (values) => values.reduce((sum, value) => sum + value, 0) / values.length;
const deviation = (values) => Math.sqrt(mean(values.map((value) => (value - mean(values)) ** 2)));

try {
  // A warm-up call on each side, then the rounds, the times of which are kept.
  await alternate(Object.keys(sides), ROUNDS, (side, warmUp) => (warmUp ? sides[side](1, false) : sides[side](CALLS, true)));
  const baselineUsPerCall = mean(times.baseline) / 1000;
  const adapterUsPerCall = mean(times.adapter) / 1000;
  // The standard error of the difference of the two means, from the per-call spread.
  const standardError = Math.sqrt(deviation(times.baseline) ** 2 / times.baseline.length + deviation(times.adapter) ** 2 / times.adapter.length) / 1000;
  printResult({
    framework: `Claude Agent SDK ${frameworkVersion('@anthropic-ai/claude-agent-sdk')}`,
    call: 'query: the main thread spawns one subagent (Agent tool), real CLI against a loopback fake Messages API',
    baselineUsPerCall,
    adapterUsPerCall,
    note: `${ROUNDS} alternating rounds of ${CALLS} calls per side; each call spawns the CLI: per-call standard deviation ${(deviation(times.baseline) / 1000).toFixed(0)} µs without the adapter, ${(deviation(times.adapter) / 1000).toFixed(0)} µs with it, so the difference (${(adapterUsPerCall - baselineUsPerCall).toFixed(0)} µs) is known to about ±${(2 * standardError).toFixed(0)} µs (2 standard errors)${Math.abs(adapterUsPerCall - baselineUsPerCall) < 2 * standardError ? ': within the noise of spawning the CLI, the ratio says nothing beyond that' : ''}`,
  });
} finally {
  await fake.close();
  rmSync(directory, { recursive: true, force: true });
}
