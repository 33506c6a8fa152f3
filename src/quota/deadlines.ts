import { logger, safeCall } from '../log.js';
import { Timers } from '../timers.js';

/** A group of watchers sharing one deadline, and the one timer armed for it. */
interface Group<T> {
  readonly watchers: Set<T>;
  readonly timer: Timers;
}

/**
 * Wall-time deadlines, one timer per distinct deadline however many runs wait on it: every run
 * of a scope shares its scope's deadline. A timer per run would each have a different length, and
 * Node keeps the (emptied) list of every length an unref'd timer used until that length would
 * have elapsed: up to a day's worth of lists for a one-day limit. A group's timer stays armed
 * after its last watcher leaves, so the next run of the scope joins it instead of arming another.
 */
export class Deadlines<T> {
  readonly #groups = new Map<number, Group<T>>();

  constructor(
    /** Called for each watcher still waiting when its deadline passes. */
    readonly onPassed: (watcher: T) => void,
  ) {}

  /** Calls `onPassed(watcher)` once Date.now() has passed `deadline` (epoch ms), unless removed first. */
  add(watcher: T, deadline: number): void {
    let group = this.#groups.get(deadline);
    if (group === undefined) {
      const created: Group<T> = { watchers: new Set(), timer: new Timers() };
      // +1 ms: when the timer fires, Date.now() (whole ms, what admission compares) has passed the deadline too.
      created.timer.after(deadline - Date.now() + 1, () => this.#fire(deadline, created));
      this.#groups.set(deadline, created);
      group = created;
    }
    group.watchers.add(watcher);
  }

  remove(watcher: T, deadline: number): void {
    this.#groups.get(deadline)?.watchers.delete(watcher);
  }

  /** Deadlines with a timer armed: one per distinct deadline still ahead. */
  get size(): number {
    return this.#groups.size;
  }

  #fire(deadline: number, group: Group<T>): void {
    this.#groups.delete(deadline);
    for (const watcher of group.watchers) safeCall(logger, 'stopping a run at its wall-time deadline', () => this.onPassed(watcher));
    group.watchers.clear();
  }
}
