import type { RunHandle } from '../shared/run-handle.js';

/** The async context of one agent run that the adapter opened. */
export interface Frame {
  readonly handle: RunHandle;
  readonly model: string | undefined;
  /**
   * For an agent tool: its own `Runner.run` has not started yet. That call is this run,
   * not a new one; any later `Runner.run` inside it is a nested agent.
   */
  awaitingOwnRun: boolean;
  /** The error the agent's own run rejected with; for an agent tool the SDK turns it into a tool output. */
  failure: { error: unknown } | undefined;
  /** The id of the SDK trace's `task` span of this run, once seen. */
  taskSpanId: string | undefined;
}
