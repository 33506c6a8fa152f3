import type { AsyncLocalStorage } from 'node:async_hooks';
import { createLogger } from '../../log.js';
import type { Frame } from './frame.js';

const logger = createLogger('openai-agents');

interface TokenCount {
  input: number;
  output: number;
}

interface SpanEntry {
  readonly type: string;
  readonly parentId: string | null;
  /** For a `task` span that is one of the adapter's runs. */
  readonly frame: Frame | undefined;
  /** For a `task` span: the totals of the `task` spans nested in it, which its own usage includes. */
  readonly nested: TokenCount;
  /** When the span started (`performance.now()`): a `function` span's is its tool call's start. */
  readonly started: number;
  /** For a `function` span: what its tool call failed with, when the adapter knows better than the span's redacted error. */
  failure: { error: unknown } | undefined;
}

// Loose view of the SDK's tracing span: only the fields read here.
export interface SdkSpan {
  spanId: string;
  parentId: string | null;
  spanData: { type: string; name?: unknown; usage?: { input_tokens?: number; output_tokens?: number } };
  /** Set when the span failed: for a tool call, a message and a redacted error (the thrown value is not kept). */
  error?: unknown;
}

/**
 * An OpenAI Agents trace processor that feeds turns and tokens into the adapter's runs.
 *
 * Each run of the SDK opens a `task` span; the adapter's run is the one whose async context
 * the `task` span starts in. Turns are the `turn` spans under it. Its tokens are the `task`
 * span's usage minus that of the `task` spans nested in it, because the SDK rolls a nested
 * agent's usage up into its parent's. Its tool calls are the `function` spans under it (an agent
 * tool's `function` span belongs to the calling run; the subagent's own `task` starts under it). A processor cannot change control flow (the SDK
 * swallows its errors), which is why admission happens elsewhere.
 */
export class AgentMeterTraceProcessor {
  readonly #frames: AsyncLocalStorage<Frame>;
  readonly #recordUsage: (frame: Frame, tokens: TokenCount) => void;
  readonly #spans = new Map<string, SpanEntry>();
  #active = true;

  constructor(frames: AsyncLocalStorage<Frame>, recordUsage: (frame: Frame, tokens: TokenCount) => void) {
    this.#frames = frames;
    this.#recordUsage = recordUsage;
  }

  /** Stops recording; the SDK offers no way to remove a processor. */
  disable(): void {
    this.#active = false;
    this.#spans.clear();
  }

  // The SDK's processor interface is asynchronous. This processor does its work synchronously as
  // spans start and end, and has nothing to do at trace boundaries, on shutdown or on flush.
  onTraceStart(): Promise<void> {
    return Promise.resolve();
  }
  onTraceEnd(): Promise<void> {
    return Promise.resolve();
  }
  shutdown(): Promise<void> {
    return Promise.resolve();
  }
  forceFlush(): Promise<void> {
    return Promise.resolve();
  }

  /**
   * Records what the tool call of the `function` span `spanId` failed with, such as the quota
   * refusal of an agent tool or the error of the subagent's own run: the span only carries the
   * SDK's redacted message.
   */
  markFailed(spanId: string | undefined, error: unknown): void {
    const entry = spanId === undefined ? undefined : this.#spans.get(spanId);
    if (entry?.type === 'function') entry.failure = { error };
  }

  onSpanStart(span: SdkSpan): Promise<void> {
    this.#spanStarted(span);
    return Promise.resolve();
  }

  onSpanEnd(span: SdkSpan): Promise<void> {
    this.#spanEnded(span);
    return Promise.resolve();
  }

  #spanStarted(span: SdkSpan): void {
    if (!this.#active) return;
    try {
      const type = span.spanData.type;
      let frame: Frame | undefined;
      if (type === 'task') {
        const current = this.#frames.getStore();
        if (current !== undefined && current.taskSpanId === undefined) {
          current.taskSpanId = span.spanId;
          frame = current;
        }
      }
      this.#spans.set(span.spanId, { type, parentId: span.parentId, frame, nested: { input: 0, output: 0 }, started: performance.now(), failure: undefined });
      if (type === 'turn') this.#taskOf(span.parentId)?.frame?.handle.run.recordTurn();
    } catch (error) {
      logger.error('onSpanStart failed', error);
    }
  }

  #spanEnded(span: SdkSpan): void {
    if (!this.#active) return;
    try {
      const entry = this.#spans.get(span.spanId);
      if (entry === undefined) return;
      if (entry.type === 'task') {
        const total: TokenCount = {
          input: nonNegative(span.spanData.usage?.input_tokens),
          output: nonNegative(span.spanData.usage?.output_tokens),
        };
        const parent = this.#taskOf(entry.parentId);
        if (parent !== undefined) {
          parent.nested.input += total.input;
          parent.nested.output += total.output;
        }
        if (entry.frame !== undefined) {
          this.#recordUsage(entry.frame, {
            input: Math.max(0, total.input - entry.nested.input),
            output: Math.max(0, total.output - entry.nested.output),
          });
        }
      } else if (entry.type === 'function') {
        this.#toolCallEnded(span, entry);
      }
      // Children end before their ancestors, so the walk in #taskOf still finds them.
      this.#spans.delete(span.spanId);
    } catch (error) {
      logger.error('onSpanEnd failed', error);
    }
  }

  /** A `function` span ended: one tool call of the run whose `task` span contains it. */
  #toolCallEnded(span: SdkSpan, entry: SpanEntry): void {
    const run = this.#taskOf(entry.parentId)?.frame?.handle.run;
    if (run === undefined) return;
    const name = typeof span.spanData.name === 'string' && span.spanData.name !== '' ? span.spanData.name : 'unknown';
    // The span's own error is the SDK's `{ message, data }`, which names no error class: its error.type is `_OTHER`.
    const error = entry.failure !== undefined ? entry.failure.error : (span.error ?? undefined);
    run.recordToolCall({ name, durationMs: performance.now() - entry.started, type: 'function', ...(error !== undefined ? { error } : {}) });
  }

  /** The nearest `task` span at or above `spanId`. */
  #taskOf(spanId: string | null): SpanEntry | undefined {
    for (let id = spanId; id !== null;) {
      const entry = this.#spans.get(id);
      if (entry === undefined) return undefined;
      if (entry.type === 'task') return entry;
      id = entry.parentId;
    }
    return undefined;
  }
}

function nonNegative(value: number | undefined): number {
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : 0;
}
