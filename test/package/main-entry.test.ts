import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, ensureBuilt } from '../helpers/build.js';

// A module resolve hook (module.register, Node >= 20.6) appends every URL the ESM loader
// resolves to a file; CommonJS modules (the 2.x SDK's builds, and what they require) are in
// require.cache. Both are read after the import, in a fresh process.
const HOOKS = `
import { appendFileSync } from 'node:fs';
let log;
export function initialize(data) { log = data.log; }
export async function resolve(specifier, context, nextResolve) {
  const resolved = await nextResolve(specifier, context);
  appendFileSync(log, resolved.url + '\\n');
  return resolved;
}
`;
const REGISTER = `
import { register } from 'node:module';
register('./hooks.mjs', import.meta.url, { data: { log: process.env.LOADED_LOG } });
`;

const SDK_OR_EXPORTER = /node_modules\/@opentelemetry\/(sdk-|exporter-)[^/]+/;

let folder: string;

/** Imports `entry` in a new Node process and returns the package folders it loaded. */
async function packagesLoadedBy(entry: string): Promise<string[]> {
  const log = join(folder, `${entry.replaceAll('/', '_')}.log`);
  writeFileSync(log, '');
  const script = `
    import { createRequire } from 'node:module';
    await import(${JSON.stringify(pathToFileURL(join(ROOT, entry)).href)});
    console.log(JSON.stringify(Object.keys(createRequire(import.meta.url).cache)));
  `;
  const stdout = await new Promise<string>((resolve, reject) => {
    execFile(
      process.execPath,
      ['--import', pathToFileURL(join(folder, 'register.mjs')).href, '--input-type=module', '-e', script],
      { env: { ...process.env, LOADED_LOG: log }, timeout: 20_000 },
      (error, out) => (error instanceof Error ? reject(error) : resolve(out)),
    );
  });
  const required = JSON.parse(stdout.trim().split('\n').at(-1)!) as string[];
  const resolved = readFileSync(log, 'utf8').split('\n').filter(Boolean);
  const packages = [...required.map((path) => pathToFileURL(path).href), ...resolved]
    .map((url) => /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)?.[0])
    .filter((name): name is string => name !== undefined);
  return [...new Set(packages)].sort();
}

describe('the main entry', () => {
  beforeAll(async () => {
    await ensureBuilt();
    folder = mkdtempSync(join(tmpdir(), 'agentmetry-main-entry-'));
    writeFileSync(join(folder, 'hooks.mjs'), HOOKS);
    writeFileSync(join(folder, 'register.mjs'), REGISTER);
  });

  afterAll(() => rmSync(folder, { recursive: true, force: true }));

  it('loads @opentelemetry/api and no OpenTelemetry SDK or exporter module', async () => {
    const loaded = await packagesLoadedBy('dist/index.js');
    expect(loaded).toContain('node_modules/@opentelemetry/api');
    expect(loaded.filter((name) => SDK_OR_EXPORTER.test(name))).toEqual([]);
  });

  it('while agentmetry/setup loads the SDK and the exporters (the check sees them)', async () => {
    const loaded = await packagesLoadedBy('dist/setup/index.js');
    expect(loaded).toEqual(
      expect.arrayContaining([
        'node_modules/@opentelemetry/sdk-trace',
        'node_modules/@opentelemetry/sdk-metrics',
        'node_modules/@opentelemetry/exporter-prometheus',
        'node_modules/@opentelemetry/exporter-trace-otlp-http',
        'node_modules/@opentelemetry/exporter-metrics-otlp-http',
      ]),
    );
  });
});
