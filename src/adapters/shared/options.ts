import { isObject } from '../../is-object.js';
import { parseLimits } from '../../quota/config.js';
import { parseRunSpec } from '../../run/spec.js';
import type { RunSpec } from '../../index.js';

/** The type of each option an adapter takes. */
export type OptionTypes<Options> = { readonly [Key in keyof Required<Options>]: 'boolean' | 'function' };

/** Option names that belong to the `AgentMeter` or to a run, not to an adapter. */
const QUOTA_WORDS = /^(quota|budget|limits|estimate|max[A-Z])/;

/**
 * Validates an adapter's arguments when it is installed: `meter` must have `run()`, and each
 * option must be known and of its type. Throws a `TypeError` naming `<adapter> options.<key>` and
 * what was expected: quota settings passed to an adapter would otherwise be ignored in silence.
 */
export function checkAdapterOptions<Options extends object>(adapter: string, meter: unknown, options: unknown, types: OptionTypes<Options>): void {
  if (!isObject(meter) || typeof (meter as { run?: unknown }).run !== 'function') {
    throw new TypeError(`agentmetry: ${adapter} expects an AgentMeter as its first argument, got ${describe(meter)}`);
  }
  if (!isObject(options) || Array.isArray(options)) throw new TypeError(`agentmetry: ${adapter} options must be an object, got ${describe(options)}`);
  const known = Object.keys(types);
  for (const [key, value] of Object.entries(options)) {
    const type = Object.hasOwn(types, key) ? (types as Readonly<Record<string, string>>)[key] : undefined;
    if (type === undefined) {
      const hint = QUOTA_WORDS.test(key)
        ? '; quotas are set on the AgentMeter (new AgentMeter({ quota })), and a per-call budget or estimate is returned by options.spec'
        : '';
      throw new TypeError(`agentmetry: ${adapter} options.${key} is not a known option (expected one of ${known.join(', ')})${hint}`);
    }
    if (value !== undefined && typeof value !== type) throw new TypeError(`agentmetry: ${adapter} options.${key} must be a ${type}, got ${describe(value)}`);
  }
}

/**
 * Validates the quota part of a run spec that an adapter's `spec` option returned: its `budget`
 * and `estimate`, by the core's rules. Throws a `TypeError` or `RangeError` naming
 * `options.spec(info).budget.<limit>` and what was expected. The adapters let the framework call
 * fail with it, as `agentmeter.run` would: running the call unrecorded would also run it unbudgeted.
 */
export function checkQuotaSpec(spec: RunSpec): void {
  const field = 'options.spec(info).';
  if (spec.budget !== undefined) parseLimits(spec.budget, `${field}budget`);
  if (spec.estimate !== undefined) parseRunSpec({ name: spec.name, estimate: spec.estimate }, () => undefined, field);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return `'${value}'`;
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'number' || typeof value === 'boolean' || value === undefined) return String(value);
  return typeof value;
}
