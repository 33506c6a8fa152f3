import { describe, expect, it } from 'vitest';
import { decodeCharge, decodeHold, decodeRelease, decodeReserve, decodeSettle, decodeSync, MalformedReplyError } from '../../src/quota/redis/replies.js';

// One node as the scripts reply it: exists, ue ut uc re rt rc rk s.
const node = [1, 2, 30, 400, 1, 5, 60, 1, 1_700_000_000_000];
const verdict = (status: string, resource = '', index: number | string = 0, window = 0) => [status, resource, index, window, 10, 9, 2];
// A window with one live bucket: count, then start ue ut uc re rt rc.
const window = [1, 1_700_000_040_000, 3, 30, 0, 1, 5, 0];

describe('Redis script replies', () => {
  it('decodes well-formed replies into named fields', () => {
    expect(decodeReserve([...verdict('denied', 'tokens', 1), ...node], 1)).toEqual({
      status: 'denied',
      violation: { resource: 'tokens', nodeIndex: 0, windowIndex: undefined, limit: 10, used: 9, requested: 2 },
      nodes: [
        {
          exists: true,
          used: { executions: 2, tokens: 30, costNanos: 400, concurrent: 0 },
          reserved: { executions: 1, tokens: 5, costNanos: 60, concurrent: 1 },
          startedAt: 1_700_000_000_000,
          windows: [],
        },
      ],
    });
    expect(decodeReserve([...verdict('denied', 'executions', 2, 2), ...node, ...node, ...window, 0], [0, 2])).toMatchObject({
      violation: { resource: 'executions', nodeIndex: 1, windowIndex: 1 },
      nodes: [
        { windows: [] },
        {
          windows: [
            [
              {
                start: 1_700_000_040_000,
                used: { executions: 3, tokens: 30, costNanos: 0, concurrent: 0 },
                reserved: { executions: 1, tokens: 5, costNanos: 0, concurrent: 0 },
              },
            ],
            [],
          ],
        },
      ],
    });
    expect(decodeReserve([...verdict('expired'), ...node], 1).status).toBe('expired');
    expect(decodeCharge([...verdict('charged'), ...node, ...node], 2).nodes).toHaveLength(2);
    expect(decodeSettle(['noop', ...node.slice(0, 8), -1], 1).nodes[0]!.startedAt).toBeUndefined();
    expect(decodeSync([2, 'lease-a', 'lease-b', ...node], 1).missingLeases).toEqual(['lease-a', 'lease-b']);
    expect(decodeHold([...verdict('denied', 'costUsd', 1), ...node], 1).violation).toMatchObject({ resource: 'costUsd', nodeIndex: 0, limit: 10 });
    expect(decodeHold([...verdict('noop'), ...node], 1).status).toBe('noop');
    expect(decodeRelease(['released', ...node], 1).nodes[0]!.reserved.tokens).toBe(5);
  });

  // Each of these used to decode into NaN counts or an undefined node, and failed later as a TypeError.
  it.each([
    ['null', () => decodeReserve(null, 1), /expected an array, got null/],
    ['a string', () => decodeSettle('OK', 1), /expected an array, got string/],
    ['a truncated reply', () => decodeReserve([...verdict('admitted'), ...node.slice(0, 8)], 1), /expected 16 values, got 15/],
    ['a reply for fewer nodes', () => decodeCharge([...verdict('charged'), ...node], 2), /expected 25 values, got 16/],
    ['an unknown status', () => decodeReserve([...verdict('maybe'), ...node], 1), /unknown status maybe/],
    ['an unknown resource', () => decodeCharge([...verdict('charged', 'gold', 1), ...node], 1), /unknown resource gold/],
    ['a window index out of range', () => decodeReserve([...verdict('denied', 'tokens', 1, 2), ...node, ...window], [1]), /window 2 of 1/],
    ['a window cut short', () => decodeSync([0, ...node, ...window.slice(0, 5)], [1]), /expected 18 values, got 15/],
    ['a node index out of range', () => decodeReserve([...verdict('denied', 'tokens', 3), ...node], 1), /node 3 of 1/],
    ['a denial without a violation', () => decodeReserve([...verdict('denied'), ...node], 1), /a denial without the limit it hit/],
    [
      'a refused hold without a violation',
      () => decodeHold([...verdict('denied'), ...node], 1),
      /hold script returned a malformed reply: a denial without the limit it hit/,
    ],
    ['a release status from another script', () => decodeRelease(['settled', ...node], 1), /unknown status settled/],
    ['a count that is not a number', () => decodeSettle(['settled', 1, 2, 'x', 4, 5, 6, 7, 8, 9], 1), /value 3 is not an integer \(x\)/],
    ['a fractional count', () => decodeSettle(['settled', 1, 2, 3.5, 4, 5, 6, 7, 8, 9], 1), /value 3 is not an integer/],
    ['a missing-lease count past the end', () => decodeSync([5, 'lease-a', ...node], 1), /expected 15 values, got 11/],
  ])('rejects %s as a MalformedReplyError naming the problem', (_, decode, message) => {
    expect(decode).toThrow(MalformedReplyError);
    expect(decode).toThrow(message);
  });
});
