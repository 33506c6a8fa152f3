/**
 * Budget windows: where a limit resets. A calendar window (minute, hour, day, week, month) is
 * one bucket, aligned on its period in UTC or an IANA time zone; a rolling window (the last
 * `rollingMs`) is `buckets` equal sub-buckets on the epoch grid, so that it frees what was used
 * one bucket at a time: its precision is `rollingMs / buckets`.
 *
 * A run's reservation and settlement count in the bucket where the run was admitted, found again
 * from its admission time; a bucket that has left its window counts for nothing, so a window that
 * rolls over frees its budget at once, without a timer.
 */

export type CalendarPeriod = 'minute' | 'hour' | 'day' | 'week' | 'month';

export const CALENDAR_PERIODS: readonly CalendarPeriod[] = ['minute', 'hour', 'day', 'week', 'month'];

/** A window's limits, in ledger units; absent means unlimited in this window. */
export interface WindowLimits {
  readonly executions?: number;
  readonly tokens?: number;
  readonly costNanos?: number;
}

const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;

/** The fields of a local date and time, month 1-12, weekday 0 = Monday. */
interface LocalTime {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  weekday: number;
}

const WEEKDAYS: Readonly<Record<string, number>> = { Mon: 0, Tue: 1, Wed: 2, Thu: 3, Fri: 4, Sat: 5, Sun: 6 };

/**
 * One window of a budget: which bucket a time falls in and which buckets still count. Stores
 * call only `bucketStart`, `oldestLiveStart`, `bucketEnd` and `buckets`; everything else is how
 * the answer is found.
 */
export abstract class BudgetWindow {
  /** A short, low-cardinality name: `day`, `month@Europe/Paris`, `rolling:24h`. The `quota.window` attribute. */
  abstract readonly label: string;
  /** Buckets the window holds at once: 1 for a calendar window. */
  abstract readonly buckets: number;

  constructor(readonly limits: WindowLimits) {}

  /** Epoch ms where the bucket holding `time` starts: its identity. */
  abstract bucketStart(time: number): number;
  /** Epoch ms where the bucket holding `time` ends (exclusive). */
  abstract bucketEnd(time: number): number;
  /** The start of the oldest bucket that still counts at `now`: buckets starting before it are out of the window. */
  abstract oldestLiveStart(now: number): number;
  /** Epoch ms after which nothing counted in the bucket holding `time` counts any more. */
  abstract expiresAt(time: number): number;
  /** The slot of a bucket in a ring of `buckets` slots. */
  abstract slot(start: number): number;
}

/** The last `rollingMs`, in `buckets` sub-buckets aligned on the epoch. */
export class RollingWindow extends BudgetWindow {
  readonly label: string;
  readonly bucketMs: number;

  constructor(
    readonly rollingMs: number,
    readonly buckets: number,
    limits: WindowLimits,
  ) {
    super(limits);
    this.bucketMs = rollingMs / buckets;
    this.label = `rolling:${formatDuration(rollingMs)}`;
  }

  bucketStart(time: number): number {
    return Math.floor(time / this.bucketMs) * this.bucketMs;
  }

  bucketEnd(time: number): number {
    return this.bucketStart(time) + this.bucketMs;
  }

  oldestLiveStart(now: number): number {
    return this.bucketStart(now) - (this.buckets - 1) * this.bucketMs;
  }

  expiresAt(time: number): number {
    return this.bucketStart(time) + this.rollingMs;
  }

  slot(start: number): number {
    const index = Math.round(start / this.bucketMs) % this.buckets;
    return index < 0 ? index + this.buckets : index;
  }
}

/** One calendar period (minute to month) in UTC or an IANA time zone: one bucket. */
export class CalendarWindow extends BudgetWindow {
  readonly label: string;
  readonly buckets = 1;
  readonly #format: Intl.DateTimeFormat | undefined;
  /** The period last asked for, so that a run of calls inside one period computes nothing. */
  #start = 0;
  #end = 0;

  constructor(
    readonly period: CalendarPeriod,
    readonly timeZone: string,
    limits: WindowLimits,
  ) {
    super(limits);
    this.label = timeZone === 'UTC' ? period : `${period}@${timeZone}`;
    this.#format =
      timeZone === 'UTC'
        ? undefined
        : new Intl.DateTimeFormat('en-US', {
            timeZone,
            hourCycle: 'h23',
            year: 'numeric',
            month: 'numeric',
            day: 'numeric',
            hour: 'numeric',
            minute: 'numeric',
            weekday: 'short',
          });
  }

  bucketStart(time: number): number {
    this.#locate(time);
    return time >= this.#start && time < this.#end ? this.#start : this.#bounds(time)[0];
  }

  bucketEnd(time: number): number {
    this.#locate(time);
    return time >= this.#start && time < this.#end ? this.#end : this.#bounds(time)[1];
  }

  oldestLiveStart(now: number): number {
    return this.bucketStart(now);
  }

  expiresAt(time: number): number {
    return this.bucketEnd(time);
  }

  slot(): number {
    return 0;
  }

  /** Moves the remembered period forward when `time` is past it (the common case: time goes on). */
  #locate(time: number): void {
    if (time >= this.#end) [this.#start, this.#end] = this.#bounds(time);
  }

  /** The start and end of the period holding `time`, as epoch ms. */
  #bounds(time: number): [number, number] {
    // Every zone's offset is a whole number of minutes (15 at the finest): a zone's minutes are
    // the epoch's, also in the hour a daylight-saving change repeats.
    const minute = Math.floor(time / MINUTE_MS) * MINUTE_MS;
    if (this.period === 'minute') return [minute, minute + MINUTE_MS];
    const local = this.#localTime(time);
    // An hour is the 60 minutes from the last local o'clock: counted back from `time`, so that the
    // hour a change repeats is two hours, each where its clock reading was.
    if (this.period === 'hour') {
      const start = minute - local.minute * MINUTE_MS;
      return [start, start + HOUR_MS];
    }
    const start = periodStart(this.period, local);
    const next = nextPeriod(this.period, start);
    return [this.#toEpoch(start), this.#toEpoch(next)];
  }

  #localTime(time: number): LocalTime {
    if (this.#format === undefined) {
      const date = new Date(time);
      return {
        year: date.getUTCFullYear(),
        month: date.getUTCMonth() + 1,
        day: date.getUTCDate(),
        hour: date.getUTCHours(),
        minute: date.getUTCMinutes(),
        weekday: (date.getUTCDay() + 6) % 7,
      };
    }
    const local: LocalTime = { year: 0, month: 0, day: 0, hour: 0, minute: 0, weekday: 0 };
    for (const part of this.#format.formatToParts(time)) {
      if (part.type === 'weekday') local.weekday = WEEKDAYS[part.value] ?? 0;
      else if (part.type in local) local[part.type as keyof LocalTime] = Number(part.value);
    }
    return local;
  }

  /**
   * The epoch ms of a local time in this window's zone. A local time skipped by a daylight-saving
   * jump resolves to the instant after the jump; a repeated one to one of its two instants, so a
   * period that starts or ends in a repeated hour may span it whole.
   */
  #toEpoch(local: LocalTime): number {
    const asUtc = Date.UTC(local.year, local.month - 1, local.day, local.hour, local.minute);
    if (this.#format === undefined) return asUtc;
    // The zone's offset at a guess, then at the corrected guess (the offset may differ across a change).
    const first = asUtc - this.#offset(asUtc);
    const second = asUtc - this.#offset(first);
    if (first === second) return first;
    // Across a change: take the earlier instant that reads as this local time, else the later.
    const earlier = Math.min(first, second);
    return this.#sameLocal(earlier, local) ? earlier : Math.max(first, second);
  }

  /** The zone's offset from UTC at `time`, in ms. */
  #offset(time: number): number {
    const local = this.#localTime(time);
    const asUtc = Date.UTC(local.year, local.month - 1, local.day, local.hour, local.minute);
    return asUtc - Math.floor(time / MINUTE_MS) * MINUTE_MS;
  }

  #sameLocal(time: number, local: LocalTime): boolean {
    const actual = this.#localTime(time);
    return actual.day === local.day && actual.hour === local.hour && actual.minute === local.minute;
  }
}

function periodStart(period: CalendarPeriod, local: LocalTime): LocalTime {
  switch (period) {
    case 'minute':
      return { ...local };
    case 'hour':
      return { ...local, minute: 0 };
    case 'day':
      return { ...local, hour: 0, minute: 0 };
    case 'week':
      return { ...shiftDays(local, -local.weekday), hour: 0, minute: 0 };
    case 'month':
      return { ...local, day: 1, hour: 0, minute: 0 };
  }
}

function nextPeriod(period: CalendarPeriod, start: LocalTime): LocalTime {
  switch (period) {
    case 'minute':
      return fromUtcFields(Date.UTC(start.year, start.month - 1, start.day, start.hour, start.minute + 1));
    case 'hour':
      return fromUtcFields(Date.UTC(start.year, start.month - 1, start.day, start.hour + 1));
    case 'day':
      return shiftDays(start, 1);
    case 'week':
      return shiftDays(start, 7);
    case 'month':
      return fromUtcFields(Date.UTC(start.year, start.month, 1));
  }
}

/** Calendar arithmetic on local fields, done in UTC where every day has 24 hours. */
function shiftDays(local: LocalTime, days: number): LocalTime {
  return fromUtcFields(Date.UTC(local.year, local.month - 1, local.day + days, local.hour, local.minute));
}

function fromUtcFields(time: number): LocalTime {
  const date = new Date(time);
  return {
    year: date.getUTCFullYear(),
    month: date.getUTCMonth() + 1,
    day: date.getUTCDate(),
    hour: date.getUTCHours(),
    minute: date.getUTCMinutes(),
    weekday: (date.getUTCDay() + 6) % 7,
  };
}

/** `86400000` → `24h`, `90000` → `90s`: the largest unit that divides it. */
export function formatDuration(ms: number): string {
  const units: Array<[string, number]> = [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1_000],
  ];
  for (const [unit, size] of units) if (ms % size === 0 && ms >= size) return `${ms / size}${unit}`;
  return `${ms}ms`;
}
