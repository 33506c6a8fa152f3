import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AgentDefinition, Options, SDKMessage, SDKResultMessage } from '@anthropic-ai/claude-agent-sdk';
import type { Block } from './fake-anthropic.js';

/** The `Agent` tool use of a scripted answer. */
export function agentCall(id: string, subagentType: string, extra: Record<string, unknown> = {}): Block {
  return {
    type: 'tool_use',
    id,
    name: 'Agent',
    input: { description: `run ${subagentType}`, prompt: `do ${subagentType}`, subagent_type: subagentType, ...extra },
  };
}

export function text(value: string): Block {
  return { type: 'text', text: value };
}

/** A subagent whose system prompt carries `marker`, so that the fake routes its requests by it. */
export function agent(marker: string, tools: string[] = []): AgentDefinition {
  return { description: `the ${marker} agent`, prompt: `You are ${marker}.`, tools };
}

/**
 * Options that run the real bundled CLI against the fake, offline: its own config directory and
 * working directory, no traffic but the fake's, no permission prompts. `env` replaces the CLI's
 * environment (it is not merged), hence `process.env` spread in; `bypassPermissions` is refused
 * when running as root, hence `allowedTools`.
 */
export function offlineOptions(baseUrl: string, extra: { background?: boolean } & Partial<Options> = {}): { options: Options; cleanup: () => void } {
  const directory = mkdtempSync(join(tmpdir(), 'agentmetry-claude-'));
  const { background, ...rest } = extra;
  const options: Options = {
    cwd: directory,
    env: {
      ...process.env,
      ANTHROPIC_BASE_URL: baseUrl,
      ANTHROPIC_API_KEY: 'sk-ant-test',
      CLAUDE_CONFIG_DIR: join(directory, '.claude'),
      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
      DISABLE_AUTOUPDATER: '1',
      DISABLE_TELEMETRY: '1',
      ...(background === true ? {} : { CLAUDE_CODE_DISABLE_BACKGROUND_TASKS: '1' }),
    },
    model: 'claude-sonnet-4-5',
    maxTurns: 6,
    allowedTools: ['Agent'],
    settingSources: [],
    ...rest,
  };
  return { options, cleanup: () => rmSync(directory, { recursive: true, force: true }) };
}

/** Iterates a query to its end: every message, and the result. */
export async function drain(query: AsyncIterable<SDKMessage>): Promise<{ messages: SDKMessage[]; result: SDKResultMessage }> {
  const messages: SDKMessage[] = [];
  for await (const message of query) messages.push(message);
  const result = messages.find((message): message is SDKResultMessage => message.type === 'result');
  if (result === undefined) throw new Error(`the query ended without a result: ${messages.map((message) => message.type).join(', ')}`);
  return { messages, result };
}

/** The query's total usage as the SDK reports it: input (cache included) and output tokens over every model. */
export function reportedTokens(result: SDKResultMessage): { input: number; output: number } {
  let input = 0;
  let output = 0;
  for (const usage of Object.values(result.modelUsage)) {
    input += usage.inputTokens + usage.cacheReadInputTokens + usage.cacheCreationInputTokens;
    output += usage.outputTokens;
  }
  return { input, output };
}
