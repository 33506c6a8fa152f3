import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = join(import.meta.dirname, '../../src');

/** Every relative `import` (not re-export) of every source file under src/. */
function imports(): Array<{ file: string; from: string; target: string }> {
  const found: Array<{ file: string; from: string; target: string }> = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.ts')) {
        const source = readFileSync(path, 'utf8');
        for (const match of source.matchAll(/^import\s[^;]*?from '(\.[^']+)'/gm)) {
          const target = relative(SRC, join(dir, match[1]!));
          found.push({ file: relative(SRC, path), from: relative(SRC, dir), target });
        }
      }
    }
  };
  walk(SRC);
  return found;
}

const room = (path: string): string => path.split('/')[0]!;

describe('architecture', () => {
  it('the rooms the run pipeline joins never import each other: telemetry and quota', () => {
    const crossing = imports().filter(
      ({ file, target }) => (room(file) === 'telemetry' && room(target) === 'quota') || (room(file) === 'quota' && room(target) === 'telemetry'),
    );
    expect(crossing).toEqual([]);
  });

  it('the core never imports an adapter, the CLI or the SDK setup', () => {
    const core = new Set(['run', 'telemetry', 'quota']);
    const outward = imports().filter(({ file, target }) => core.has(room(file)) && ['adapters', 'cli', 'setup'].includes(room(target)));
    expect(outward).toEqual([]);
  });

  it('only the run pipeline imports both telemetry and quota', () => {
    const byFile = new Map<string, Set<string>>();
    for (const { file, target } of imports()) {
      if (!byFile.has(file)) byFile.set(file, new Set());
      byFile.get(file)!.add(room(target));
    }
    const both = [...byFile].filter(([, rooms]) => rooms.has('telemetry') && rooms.has('quota')).map(([file]) => file);
    expect(both.every((file) => room(file) === 'run')).toBe(true);
    expect(both).toContain('run/agent-meter.ts');
  });
});
