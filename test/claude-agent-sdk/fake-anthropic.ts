import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One content block of a scripted answer. */
export type Block = { type: 'text'; text: string } | { type: 'tool_use'; id: string; name: string; input: Record<string, unknown> };

/** A scripted answer: its content and usage, or an HTTP error the API would return. */
export type Answer = { content: Block[]; usage: { input_tokens: number; output_tokens: number } } | { status: number; error: string };

/** What the fake knows about one `POST /v1/messages` request. */
export interface MessagesRequest {
  /** The system prompt, flattened to text. */
  system: string;
  /** The names of the tools offered. */
  tools: string[];
  /** The `tool_result` blocks the request carries, in order. */
  toolResults: Array<{ id: string; text: string; isError: boolean }>;
  model: string;
  body: Record<string, unknown>;
}

export interface FakeAnthropic {
  readonly url: string;
  /** Every Messages request, in order, with the answer given. */
  readonly requests: Array<{ request: MessagesRequest; answer: Answer }>;
  close(): Promise<void>;
}

/**
 * A loopback fake of the Anthropic Messages API (`POST /v1/messages`, streaming and not), for the
 * real Claude Code CLI that the Claude Agent SDK spawns: `answer` decides each reply from the
 * request (route by a marker in the subagent's system prompt). Other endpoints answer an empty
 * success.
 */
export async function startFakeAnthropic(answer: (request: MessagesRequest) => Answer | Promise<Answer>): Promise<FakeAnthropic> {
  const requests: Array<{ request: MessagesRequest; answer: Answer }> = [];
  const server = createServer((incoming, response) => {
    void handle(incoming, response).catch((error: unknown) => {
      response.writeHead(500, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ type: 'error', error: { type: 'api_error', message: String(error) } }));
    });
  });
  let messageCount = 0;

  async function handle(incoming: IncomingMessage, response: ServerResponse): Promise<void> {
    let text = '';
    for await (const chunk of incoming) text += String(chunk);
    const body = (text === '' ? {} : JSON.parse(text)) as Record<string, unknown>;
    const path = incoming.url ?? '';
    if (incoming.method !== 'POST' || !path.startsWith('/v1/messages') || path.includes('count_tokens')) {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify(path.includes('count_tokens') ? { input_tokens: 10 } : {}));
      return;
    }
    const request = parseRequest(body);
    const reply = await answer(request);
    requests.push({ request, answer: reply });
    if ('status' in reply) {
      response.writeHead(reply.status, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ type: 'error', error: { type: 'invalid_request_error', message: reply.error } }));
      return;
    }
    messageCount += 1;
    const stop = reply.content.some((block) => block.type === 'tool_use') ? 'tool_use' : 'end_turn';
    const message = {
      id: `msg_fake_${messageCount}`,
      type: 'message',
      role: 'assistant',
      model: request.model,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: { input_tokens: reply.usage.input_tokens, output_tokens: 0 },
    };
    if (body.stream !== true) {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ ...message, content: reply.content, stop_reason: stop, usage: reply.usage }));
      return;
    }
    response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    const event = (type: string, data: Record<string, unknown>) => response.write(`event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`);
    event('message_start', { message });
    reply.content.forEach((block, index) => {
      if (block.type === 'text') {
        event('content_block_start', { index, content_block: { type: 'text', text: '' } });
        event('content_block_delta', { index, delta: { type: 'text_delta', text: block.text } });
      } else {
        event('content_block_start', { index, content_block: { type: 'tool_use', id: block.id, name: block.name, input: {} } });
        event('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json: JSON.stringify(block.input) } });
      }
      event('content_block_stop', { index });
    });
    event('message_delta', { delta: { stop_reason: stop, stop_sequence: null }, usage: { output_tokens: reply.usage.output_tokens } });
    event('message_stop', {});
    response.end();
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function parseRequest(body: Record<string, unknown>): MessagesRequest {
  const system = typeof body.system === 'string' ? body.system : JSON.stringify(body.system ?? '');
  const tools = Array.isArray(body.tools) ? body.tools.map((tool) => String((tool as { name?: unknown }).name)) : [];
  const toolResults: MessagesRequest['toolResults'] = [];
  for (const message of Array.isArray(body.messages) ? (body.messages as Array<{ content?: unknown }>) : []) {
    if (!Array.isArray(message.content)) continue;
    for (const block of message.content as Array<Record<string, unknown>>) {
      if (block.type !== 'tool_result') continue;
      toolResults.push({ id: String(block.tool_use_id), text: JSON.stringify(block.content ?? ''), isError: block.is_error === true });
    }
  }
  return { system, tools, toolResults, model: typeof body.model === 'string' ? body.model : 'claude-test', body };
}
