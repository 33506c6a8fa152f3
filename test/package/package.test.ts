import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { VERSION } from '../../src/version.js';

const root = new URL('../../', import.meta.url);
const manifest = JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as {
  version: string;
  dependencies: Record<string, string>;
  peerDependencies: Record<string, string>;
};

interface Tree {
  version?: string;
  dependencies?: Record<string, Tree>;
}

describe('the package', () => {
  it('installs exactly one copy of each OpenTelemetry package', () => {
    const output = execFileSync('npm', ['ls', '--all', '--json'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const versions = new Map<string, Set<string>>();
    const walk = (tree: Tree) => {
      for (const [name, child] of Object.entries(tree.dependencies ?? {})) {
        if (name.startsWith('@opentelemetry/') && child.version !== undefined) {
          versions.set(name, (versions.get(name) ?? new Set()).add(child.version));
        }
        walk(child);
      }
    };
    walk(JSON.parse(output) as Tree);
    expect(versions.size).toBeGreaterThan(5);
    const duplicated = [...versions].filter(([, found]) => found.size > 1).map(([name, found]) => `${name}: ${[...found].join(', ')}`);
    expect(duplicated).toEqual([]);
  });

  it('pins the SDK packages to exact versions and keeps the API a peer dependency', () => {
    for (const [name, range] of Object.entries(manifest.dependencies)) {
      if (name.startsWith('@opentelemetry/')) expect(range, name).toMatch(/^\d+\.\d+\.\d+$/);
    }
    expect(manifest.dependencies['@opentelemetry/api']).toBeUndefined();
    expect(manifest.peerDependencies['@opentelemetry/api']).toBeDefined();
  });

  it('reports the package version as the instrumentation scope version', () => {
    expect(VERSION).toBe(manifest.version);
  });

  it('keeps the core free of SDK imports on the hot path', () => {
    const core = ['telemetry/agent-meter.ts', 'telemetry/run-state.ts', 'telemetry/instruments.ts', 'telemetry/series.ts', 'quota/processor.ts', 'quota/memory-store.ts'];
    for (const file of core) {
      const source = readFileSync(new URL(`src/${file}`, root), 'utf8');
      const imports = [...source.matchAll(/from '([^']+)'/g)].map((match) => match[1]!);
      expect(imports.filter((specifier) => specifier.startsWith('@opentelemetry/') && specifier !== '@opentelemetry/api'), file).toEqual([]);
    }
  });
});
