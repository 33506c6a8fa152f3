import { describe, expect, it } from 'vitest';
import { CalendarWindow, RollingWindow, formatDuration } from '../../src/quota/windows.js';

const at = (iso: string) => Date.parse(iso);
const iso = (time: number) => new Date(time).toISOString();

describe('calendar windows', () => {
  it('align minute, hour, day, week (from Monday) and month on UTC', () => {
    const time = at('2026-12-02T07:46:31.250Z'); // a Wednesday
    const bounds = (period: 'minute' | 'hour' | 'day' | 'week' | 'month') => {
      const window = new CalendarWindow(period, 'UTC', { executions: 1 });
      return [iso(window.bucketStart(time)), iso(window.bucketEnd(time))];
    };
    expect(bounds('minute')).toEqual(['2026-12-02T07:46:00.000Z', '2026-12-02T07:47:00.000Z']);
    expect(bounds('hour')).toEqual(['2026-12-02T07:00:00.000Z', '2026-12-02T08:00:00.000Z']);
    expect(bounds('day')).toEqual(['2026-12-02T00:00:00.000Z', '2026-12-03T00:00:00.000Z']);
    expect(bounds('week')).toEqual(['2026-11-30T00:00:00.000Z', '2026-12-07T00:00:00.000Z']);
    expect(bounds('month')).toEqual(['2026-12-01T00:00:00.000Z', '2027-01-01T00:00:00.000Z']);
  });

  it('align months on a time zone: New York local midnight, across a daylight-saving change', () => {
    const window = new CalendarWindow('month', 'America/New_York', { tokens: 1 });
    expect(window.label).toBe('month@America/New_York');
    // 23:30 on 31 January in New York is already February in UTC; EST is UTC-5.
    const lateJanuary = at('2026-02-01T04:30:00Z');
    expect(iso(window.bucketStart(lateJanuary))).toBe('2026-01-01T05:00:00.000Z');
    expect(iso(window.bucketEnd(lateJanuary))).toBe('2026-02-01T05:00:00.000Z');
    // March starts in EST (UTC-5) and ends in EDT (UTC-4): the month is an hour shorter.
    const march = at('2026-03-15T12:00:00Z');
    expect(iso(window.bucketStart(march))).toBe('2026-03-01T05:00:00.000Z');
    expect(iso(window.bucketEnd(march))).toBe('2026-04-01T04:00:00.000Z');
    // Asked for in any order, the answers do not depend on what was asked before.
    expect(iso(window.bucketStart(lateJanuary))).toBe('2026-01-01T05:00:00.000Z');
  });

  it('align days on a zone with a half-hour offset, and hours too', () => {
    const day = new CalendarWindow('day', 'Asia/Kolkata', { executions: 1 });
    const hour = new CalendarWindow('hour', 'Asia/Kolkata', { executions: 1 });
    const time = at('2026-06-10T20:00:00Z'); // 01:30 on 11 June in India (UTC+5:30)
    expect(iso(day.bucketStart(time))).toBe('2026-06-10T18:30:00.000Z');
    expect(iso(day.bucketEnd(time))).toBe('2026-06-11T18:30:00.000Z');
    expect(iso(hour.bucketStart(time))).toBe('2026-06-10T19:30:00.000Z');
  });

  it('days around a daylight-saving change in Europe last 23 and 25 hours', () => {
    const window = new CalendarWindow('day', 'Europe/Paris', { executions: 1 });
    const spring = at('2026-03-29T12:00:00Z');
    expect(window.bucketEnd(spring) - window.bucketStart(spring)).toBe(23 * 3_600_000);
    const autumn = at('2026-10-25T12:00:00Z');
    expect(window.bucketEnd(autumn) - window.bucketStart(autumn)).toBe(25 * 3_600_000);
    expect(iso(window.bucketStart(autumn))).toBe('2026-10-24T22:00:00.000Z');
  });

  it('every period holds the time it is asked about, across daylight-saving changes in several zones', () => {
    // Around the 2026 changes: New York (8 March, 1 November), Paris (29 March, 25 October), Sydney (5 April, 4 October).
    const days = ['2026-03-08', '2026-11-01', '2026-03-29', '2026-10-25', '2026-04-05', '2026-10-04'].map((day) => Date.parse(`${day}T00:00:00Z`));
    const misses: string[] = [];
    for (const zone of ['America/New_York', 'Europe/Paris', 'Australia/Sydney']) {
      for (const period of ['minute', 'hour', 'day', 'week', 'month'] as const) {
        const window = new CalendarWindow(period, zone, { executions: 1 });
        for (const day of days) {
          for (let time = day - 86_400_000; time < day + 2 * 86_400_000; time += 7 * 60_000 + 13_000) {
            const start = window.bucketStart(time);
            const end = window.bucketEnd(time);
            if (!(start <= time && time < end)) misses.push(`${zone} ${period} ${iso(time)}: [${iso(start)}, ${iso(end)})`);
          }
        }
      }
    }
    expect(misses.slice(0, 5)).toEqual([]);
  });

  it('minutes in the hour a change repeats are the epoch minutes (New York, 1 November 2026)', () => {
    const window = new CalendarWindow('minute', 'America/New_York', { executions: 1 });
    // 01:01:49 EST, the second 01:01 of the night.
    const time = at('2026-11-01T06:01:49Z');
    expect([iso(window.bucketStart(time)), iso(window.bucketEnd(time))]).toEqual(['2026-11-01T06:01:00.000Z', '2026-11-01T06:02:00.000Z']);
  });

  it('a calendar window holds one bucket, live until its period ends', () => {
    const window = new CalendarWindow('hour', 'UTC', { executions: 1 });
    const time = at('2026-12-02T07:10:00Z');
    expect(window.buckets).toBe(1);
    expect(window.oldestLiveStart(time)).toBe(at('2026-12-02T07:00:00Z'));
    expect(window.expiresAt(time)).toBe(at('2026-12-02T08:00:00Z'));
  });
});

describe('rolling windows', () => {
  it('are buckets on the epoch grid; the oldest live one is buckets - 1 before the current one', () => {
    const window = new RollingWindow(3_600_000, 6, { tokens: 10 });
    expect(window.label).toBe('rolling:1h');
    const time = at('2026-12-02T07:46:00Z');
    expect(iso(window.bucketStart(time))).toBe('2026-12-02T07:40:00.000Z');
    expect(iso(window.oldestLiveStart(time))).toBe('2026-12-02T06:50:00.000Z');
    expect(iso(window.expiresAt(time))).toBe('2026-12-02T08:40:00.000Z');
    // Six consecutive buckets take six different slots.
    const slots = new Set(Array.from({ length: 6 }, (_, index) => window.slot(window.bucketStart(time) + index * 600_000)));
    expect(slots.size).toBe(6);
  });

  it('labels name the length in the largest whole unit', () => {
    expect(formatDuration(86_400_000)).toBe('1d');
    expect(formatDuration(90 * 60_000)).toBe('90m');
    expect(formatDuration(1_500)).toBe('1500ms');
  });
});
