import { execFile, execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VERSION } from '../../src/version.js';
import { ROOT, ensureBuilt } from '../helpers/build.js';
import { docBlocks } from '../helpers/doc-blocks.js';

const execFileAsync = promisify(execFile);

const root = new URL('../../', import.meta.url);
const manifest = JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as {
  version: string;
  license: string;
  bin: Record<string, string>;
  exports: Record<string, string | { types: string; import: string; default?: string }>;
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

/** The files `npm pack` puts in the tarball (built first; `prepare` is not run again). */
function packedFiles(): string[] {
  const output = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  return (JSON.parse(output) as Array<{ files: Array<{ path: string }> }>)[0]!.files.map((file) => file.path);
}

describe('the tarball', () => {
  beforeAll(ensureBuilt, 300_000);

  it('holds the Apache-2.0 LICENSE that package.json declares, and the README', () => {
    const files = packedFiles();
    expect(files).toContain('LICENSE');
    expect(files).toContain('README.md');
    expect(manifest.license).toBe('Apache-2.0');
    const license = readFileSync(new URL('LICENSE', root), 'utf8');
    expect(license).toMatch(/^\s+Apache License\n\s+Version 2\.0, January 2004\n/);
    expect(license).toContain('TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION');
    expect(license).toContain('Copyright 2026 the agentmetry authors');
  }, 60_000);

  it('holds what the README tells a tarball user to run: the agentmetry bin and every entry point', () => {
    const files = packedFiles();
    const targets = [
      ...Object.values(manifest.bin),
      ...Object.values(manifest.exports).flatMap((target) => (typeof target === 'string' ? [target] : Object.values(target))),
    ].map((path) => path.replace(/^\.\//, ''));
    expect(targets).toContain('dist/cli/main.js');
    expect(targets.filter((path) => !files.includes(path))).toEqual([]);
    // The clone-only commands (npm run stack, the examples) are not in it: the docs say they need a clone.
    expect(files.filter((path) => path.startsWith('scripts/') || path.startsWith('examples/'))).toEqual([]);
  }, 60_000);
});

/**
 * agentmetry is ESM only. From a CommonJS project (`"type": "commonjs"`) with the packed tarball
 * installed, `import()` works on every supported Node; `require()` works where Node can require
 * an ES module (20.19+, 22.12+) for the entries without top-level await, and names `import()`
 * in its error otherwise. Run under each Node of the CI matrix.
 */
describe('from a CommonJS project', () => {
  let project: string;

  const node = async (args: string[], env: Record<string, string> = {}) => {
    try {
      const { stdout, stderr } = await execFileAsync(process.execPath, args, {
        cwd: project,
        env: { ...process.env, NODE_ENV: 'production', AGENTMETRY_PROMETHEUS: 'false', ...env },
        timeout: 60_000,
      });
      return { code: 0, stdout, stderr };
    } catch (error) {
      const failed = error as { code: number; stdout: string; stderr: string };
      return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
    }
  };

  beforeAll(async () => {
    await ensureBuilt();
    project = mkdtempSync(join(tmpdir(), 'agentmetry-cjs-'));
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'cjs-app', version: '1.0.0', type: 'commonjs' }));
    // The tarball as npm would unpack it; its peers from this checkout.
    const [pack] = JSON.parse(
      execFileSync('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', project], {
        cwd: ROOT,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      }),
    ) as Array<{ filename: string }>;
    mkdirSync(join(project, 'node_modules'));
    execFileSync('tar', ['-xzf', join(project, pack!.filename), '-C', join(project, 'node_modules')]);
    renameSync(join(project, 'node_modules', 'package'), join(project, 'node_modules', 'agentmetry'));
    for (const name of ['@opentelemetry', '@openai', '@langchain', '@mastra', 'ai', 'ioredis'])
      symlinkSync(join(ROOT, 'node_modules', name), join(project, 'node_modules', name));
  }, 300_000);

  afterAll(() => rmSync(project, { recursive: true, force: true }));

  it("runs the CommonJS block of docs/api.md: `await import('agentmetry')` inside an async function", async () => {
    const block = docBlocks('js').find((candidate) => candidate.where.startsWith('docs/api.md') && candidate.code.startsWith('// app.cjs'));
    expect(block).toBeDefined();
    writeFileSync(join(project, 'app.cjs'), block!.code);
    const result = await node(['app.cjs']);
    expect(result.stderr).toBe('');
    expect(result.stdout.trim().split('\n')).toEqual(block!.expected);
  });

  it('require() loads the entries without top-level await where Node can require ES modules, and names import() where it cannot', async () => {
    const entries = Object.keys(manifest.exports)
      .filter((entry) => entry !== './package.json')
      .map((entry) => entry.replace(/^\./, 'agentmetry'));
    const script = `const outcome = {};
for (const entry of ${JSON.stringify(entries)}) {
  try { require(entry); outcome[entry] = 'ok'; } catch (error) { outcome[entry] = error.code + (/import\\(\\)/.test(error.message) ? ', use import()' : ''); }
}
console.log(JSON.stringify(outcome));`;
    writeFileSync(join(project, 'require.cjs'), script);
    const result = await node(['require.cjs']);
    const outcome = JSON.parse(result.stdout) as Record<string, string>;
    const awaitsAtTopLevel = ['agentmetry/setup', 'agentmetry/register'];
    const requireModule = (process.features as { require_module?: boolean }).require_module === true;
    const expected = (entry: string) =>
      !requireModule ? 'ERR_REQUIRE_ESM, use import()' : awaitsAtTopLevel.includes(entry) ? 'ERR_REQUIRE_ASYNC_MODULE, use import()' : 'ok';
    expect(outcome).toEqual(Object.fromEntries(entries.map((entry) => [entry, expected(entry)])));
  });

  it('node --import agentmetry/register starts a CommonJS app', async () => {
    writeFileSync(join(project, 'plain.cjs'), "console.log('app ran');\n");
    const result = await node(['--import', 'agentmetry/register', 'plain.cjs'], { AGENTMETRY_MAX_TOKENS: '1000' });
    expect(result).toMatchObject({ code: 0, stdout: 'app ran\n', stderr: '' });
  });
});
