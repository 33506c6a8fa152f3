import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { VERSION } from '../../src/version.js';

const root = new URL('../../', import.meta.url);
const manifest = JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as {
  version: string;
  dependencies?: Record<string, string>;
  peerDependencies: Record<string, string>;
  peerDependenciesMeta: Record<string, { optional?: boolean }>;
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

  it('depends on no OpenTelemetry package at run time: the API is a peer, the SDK packages optional peers of agentmetry/setup', () => {
    const runtime = Object.keys(manifest.dependencies ?? {}).filter((name) => name.startsWith('@opentelemetry/'));
    expect(runtime).toEqual([]);
    expect(manifest.peerDependencies['@opentelemetry/api']).toBeDefined();
    expect(manifest.peerDependenciesMeta['@opentelemetry/api']).toBeUndefined();
    const sdk = Object.keys(manifest.peerDependencies).filter((name) => name.startsWith('@opentelemetry/') && name !== '@opentelemetry/api');
    expect(sdk).toContain('@opentelemetry/sdk-metrics');
    for (const name of sdk) expect(manifest.peerDependenciesMeta[name]?.optional, name).toBe(true);
  });

  it('reports the package version as the instrumentation scope version', () => {
    expect(VERSION).toBe(manifest.version);
  });

  it('keeps the core free of SDK imports: run, telemetry and quota use only @opentelemetry/api', () => {
    const files = readdirSync(new URL('src/', root), { recursive: true, encoding: 'utf8' }).filter(
      (file) => file.endsWith('.ts') && ['run', 'telemetry', 'quota'].includes(file.split('/')[0]!),
    );
    expect(files.length).toBeGreaterThan(10);
    for (const file of files) {
      const source = readFileSync(new URL(`src/${file}`, root), 'utf8');
      const imports = [...source.matchAll(/from '([^']+)'/g)].map((match) => match[1]!);
      expect(
        imports.filter((specifier) => specifier.startsWith('@opentelemetry/') && specifier !== '@opentelemetry/api'),
        file,
      ).toEqual([]);
    }
  });
});
