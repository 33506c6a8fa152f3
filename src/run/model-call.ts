import type { Usage } from '../types.js';

/** The worst case of one model call, declared before the call with `run.reserveCall`. */
export interface ModelCallLimits {
  /** Input tokens the call sends: counted, or bounded from above. A non-negative integer. */
  inputTokens: number;
  /** The call's output cap (what the model is asked for at most, e.g. `max_tokens`). A non-negative integer. */
  maxOutputTokens: number;
  /** The most the call can cost in USD (its input and capped output at the model's prices). Default 0: no cost held. */
  costUsd?: number;
}

/** A model call whose worst case is held against the run's quotas until it settles. */
export interface ModelCall {
  /**
   * Records the call's actual usage on the run (as `recordUsage` would) and gives back what its
   * worst case held beyond it. Call it once when the call returns, and when it fails (with what it
   * used, or with nothing). Later calls do nothing.
   */
  settle(usage?: Usage): void;
}
