/** What a signal does to the runs that follow it. */
export interface Cancellable {
  cancel(reason: unknown): void;
}

interface Followers {
  readonly runs: Set<Cancellable>;
  readonly onAbort: () => void;
}

/** Per signal, the runs following it and the one listener that cancels them. */
const bySignal = new WeakMap<AbortSignal, Followers>();

/**
 * Runs to cancel, drained by the outermost listener. Cancelling a run aborts its own signal,
 * which cancels the runs following that one: queued, not called from inside the listener, so
 * a cancellation 10,000 runs deep takes no deeper a stack than one level.
 */
const pending: Array<{ run: Cancellable; reason: unknown }> = [];
let draining = false;

function cancelAll(runs: Iterable<Cancellable>, reason: unknown): void {
  for (const run of runs) pending.push({ run, reason });
  if (draining) return;
  draining = true;
  try {
    for (let next = pending.pop(); next !== undefined; next = pending.pop()) next.run.cancel(next.reason);
  } finally {
    draining = false;
  }
}

/**
 * Makes `run` follow `signal`: a caller's (`spec.signal`) or its parent run's. One signal is often
 * followed by many runs (a request's signal passed to every subagent it starts, an orchestrator's
 * parallel children): it gets one `abort` listener however many runs follow it, removed when the
 * last of them stops following, so a wide fan-out never makes Node print a
 * MaxListenersExceededWarning. The signal must not have fired yet.
 */
export function followSignal(signal: AbortSignal, run: Cancellable): void {
  let followers = bySignal.get(signal);
  if (followers === undefined) {
    const runs = new Set<Cancellable>();
    const onAbort = () => {
      bySignal.delete(signal);
      cancelAll(runs, signal.reason);
    };
    followers = { runs, onAbort };
    bySignal.set(signal, followers);
    signal.addEventListener('abort', onAbort, { once: true });
  }
  followers.runs.add(run);
}

/** `run` ended: it stops following `signal`; the listener goes with the last follower. */
export function unfollowSignal(signal: AbortSignal, run: Cancellable): void {
  const followers = bySignal.get(signal);
  if (followers === undefined || !followers.runs.delete(run) || followers.runs.size > 0) return;
  bySignal.delete(signal);
  signal.removeEventListener('abort', followers.onAbort);
}
