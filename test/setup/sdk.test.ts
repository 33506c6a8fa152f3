import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { EXPORTER_PACKAGES, SDK_LINES, SDK_PACKAGES, installCommand, lineFor } from '../../src/setup/sdk.js';

const root = new URL('../../', import.meta.url);

/** The version installed in this checkout (3.x packages do not export their package.json). */
function installed(name: string): string {
  return (JSON.parse(readFileSync(new URL(`node_modules/${name}/package.json`, root), 'utf8')) as { version: string }).version;
}

describe('the OpenTelemetry JS lines agentmetry/setup runs on', () => {
  it('picks 3.x from Node 22.15 on and 2.x before', () => {
    expect(lineFor('24.0.0').name).toBe('3.x');
    expect(lineFor('22.15.0').name).toBe('3.x');
    expect(lineFor('22.14.9').name).toBe('2.x');
    expect(lineFor('20.6.0').name).toBe('2.x');
  });

  it('installs a line with one command that pins every package to its matched release', () => {
    const [three] = SDK_LINES;
    expect(installCommand(three)).toBe(
      'npm install @opentelemetry/api@1.10.0 @opentelemetry/sdk-trace@3.1.0 @opentelemetry/sdk-metrics@3.1.0 @opentelemetry/resources@3.1.0 ' +
        '@opentelemetry/core@3.1.0 @opentelemetry/context-async-hooks@3.1.0 @opentelemetry/exporter-prometheus@0.301.0 ' +
        '@opentelemetry/exporter-trace-otlp-http@0.301.0 @opentelemetry/exporter-metrics-otlp-http@0.301.0',
    );
  });

  // The command an error message gives is one that CI installed and tested: the checkout has the
  // 3.x line (the CI legs on Node 24 and 22), the Node 20 leg's copy the 2.x line.
  it('has exactly one matched line installed, as its install command pins it', () => {
    const line = SDK_LINES.find((candidate) => candidate.sdk === installed('@opentelemetry/sdk-metrics'));
    expect(line, `sdk-metrics ${installed('@opentelemetry/sdk-metrics')} is no line's release`).toBeDefined();
    const why = (name: string) => `${name} in the ${line!.name} line`;
    expect(installed('@opentelemetry/api'), why('@opentelemetry/api')).toBe(line!.api);
    for (const name of SDK_PACKAGES) expect(installed(name), why(name)).toBe(line!.sdk);
    for (const name of Object.values(EXPORTER_PACKAGES)) expect(installed(name), why(name)).toBe(line!.exporters);
  });

  it('declares every package it loads as an optional peer dependency whose range takes both lines', () => {
    const manifest = JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as {
      peerDependencies: Record<string, string>;
      peerDependenciesMeta: Record<string, { optional?: boolean }>;
    };
    for (const name of [...SDK_PACKAGES, ...Object.values(EXPORTER_PACKAGES)]) {
      expect(manifest.peerDependenciesMeta[name]?.optional, name).toBe(true);
      const range = manifest.peerDependencies[name];
      expect(range, name).toBeDefined();
      for (const line of SDK_LINES)
        expect(satisfies(SDK_PACKAGES.includes(name as never) ? line.sdk : line.exporters, range!), `${name} ${line.name}`).toBe(true);
    }
  });
});

/** Enough of semver for the ranges used here: `^a.b.c`, `>=a.b.c <x.y.z`, joined by `||`. */
function satisfies(version: string, range: string): boolean {
  const value = (text: string) => text.split('.').reduce((total, part) => total * 1000 + Number(part), 0);
  return range.split('||').some((alternative) =>
    alternative
      .trim()
      .split(/\s+/)
      .every((comparator) => {
        const [, operator, bound] = /^(\^|>=|<)(\d+\.\d+\.\d+)$/.exec(comparator) ?? [];
        if (operator === '^' && !bound!.startsWith('0.')) return version.split('.')[0] === bound!.split('.')[0] && value(version) >= value(bound!);
        if (operator === '>=') return value(version) >= value(bound!);
        if (operator === '<') return value(version) < value(bound!);
        throw new Error(`unsupported comparator '${comparator}'`);
      }),
  );
}
