import { createHash } from 'node:crypto';
import { MAX_AGENT_NAME_LENGTH } from '../semconv.js';

const HASH_LENGTH = 8;
const MARKER = '…';

/**
 * The agent name as spans and metrics carry it: unchanged up to `MAX_AGENT_NAME_LENGTH`
 * characters; a longer one becomes its first characters, `…` and 8 hex digits of the SHA-256 of
 * the whole name, `MAX_AGENT_NAME_LENGTH` characters in all. The same name always gives the same
 * value, and two long names that differ only past the cut stay distinct.
 */
export function agentNameOf(name: string): string {
  if (name.length <= MAX_AGENT_NAME_LENGTH) return name;
  let end = MAX_AGENT_NAME_LENGTH - MARKER.length - HASH_LENGTH;
  // Never cut between the two halves of a surrogate pair: a lone half is not valid UTF-8.
  if (isHighSurrogate(name.charCodeAt(end - 1))) end -= 1;
  const hash = createHash('sha256').update(name).digest('hex').slice(0, HASH_LENGTH);
  return `${name.slice(0, end)}${MARKER}${hash}`;
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

/** A tool name as metrics carry it (`gen_ai.tool.name`): cut like an agent name. */
export const toolNameOf: (name: string) => string = agentNameOf;
