/**
 * The OpenTelemetry JS SDK that `startTelemetry` builds on. Its packages are optional peer
 * dependencies, installed by the app from one of two lines, and loaded here once, when
 * `agentmetry/setup` is imported (the main entry never imports this module):
 *
 * - 3.x (Node >= 22.15, `@opentelemetry/api` 1.10), what current apps install;
 * - 2.x from 2.9 on (Node 20, `@opentelemetry/api` 1.9), whose `@opentelemetry/sdk-trace` has the
 *   same options-object API as 3.x (3.x dropped `sdk-trace-base` and `sdk-trace-node`).
 *
 * Nothing is thrown at import: a package that is missing (or fails to load) makes
 * `startTelemetry()` throw, with the command that installs the app's line, so that
 * `agentmetry/register` can log it and let the app run on.
 */

/** One line's matched releases, as CI tests them. Each exporter release depends on exact SDK
 * versions, so installing these (not the newest SDK patch) gives one copy of each package. */
export interface SdkLine {
  readonly name: '2.x' | '3.x';
  /** The oldest Node the line supports. */
  readonly node: string;
  readonly api: string;
  readonly sdk: string;
  readonly exporters: string;
}

export const SDK_LINES: readonly [SdkLine, SdkLine] = [
  { name: '3.x', node: '22.15.0', api: '1.10.0', sdk: '3.1.0', exporters: '0.301.0' },
  { name: '2.x', node: '20.6.0', api: '1.9.1', sdk: '2.12.0', exporters: '0.223.0' },
];

/** The packages `startTelemetry` needs whatever its options. */
export const SDK_PACKAGES = [
  '@opentelemetry/sdk-trace',
  '@opentelemetry/sdk-metrics',
  '@opentelemetry/resources',
  '@opentelemetry/core',
  '@opentelemetry/context-async-hooks',
] as const;

/** The exporter packages, each needed only when its exporter is on. */
export const EXPORTER_PACKAGES = {
  prometheus: '@opentelemetry/exporter-prometheus',
  otlpTraces: '@opentelemetry/exporter-trace-otlp-http',
  otlpMetrics: '@opentelemetry/exporter-metrics-otlp-http',
} as const;

export interface Sdk {
  readonly trace: typeof import('@opentelemetry/sdk-trace');
  readonly metrics: typeof import('@opentelemetry/sdk-metrics');
  readonly resources: typeof import('@opentelemetry/resources');
  readonly core: typeof import('@opentelemetry/core');
  readonly contextAsyncHooks: typeof import('@opentelemetry/context-async-hooks');
}

export interface Exporters {
  readonly prometheus: typeof import('@opentelemetry/exporter-prometheus');
  readonly otlpTraces: typeof import('@opentelemetry/exporter-trace-otlp-http');
  readonly otlpMetrics: typeof import('@opentelemetry/exporter-metrics-otlp-http');
}

/** A loaded module, or the package's name, with the reason unless it is simply not installed. */
type Loaded<T> = { module: T } | { missing: string };

async function load<T>(name: string, importer: () => Promise<T>): Promise<Loaded<T>> {
  try {
    return { module: await importer() };
  } catch (error) {
    const code = (error as { code?: unknown } | undefined)?.code;
    const reason = error instanceof Error ? (error.message.split('\n')[0] ?? '') : String(error);
    const notInstalled = (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && reason.includes(`'${name}'`);
    // Otherwise one of its own dependencies is missing, or it threw while loading.
    return { missing: notInstalled ? name : `${name} (${reason})` };
  }
}

// Literal specifiers, so that TypeScript types each module and bundlers can see them.
const [trace, metrics, resources, core, contextAsyncHooks, prometheus, otlpTraces, otlpMetrics] = await Promise.all([
  load(SDK_PACKAGES[0], () => import('@opentelemetry/sdk-trace')),
  load(SDK_PACKAGES[1], () => import('@opentelemetry/sdk-metrics')),
  load(SDK_PACKAGES[2], () => import('@opentelemetry/resources')),
  load(SDK_PACKAGES[3], () => import('@opentelemetry/core')),
  load(SDK_PACKAGES[4], () => import('@opentelemetry/context-async-hooks')),
  load(EXPORTER_PACKAGES.prometheus, () => import('@opentelemetry/exporter-prometheus')),
  load(EXPORTER_PACKAGES.otlpTraces, () => import('@opentelemetry/exporter-trace-otlp-http')),
  load(EXPORTER_PACKAGES.otlpMetrics, () => import('@opentelemetry/exporter-metrics-otlp-http')),
]);

/** The SDK packages, or a thrown `Error` naming what is missing and the command that installs it. */
export function requireSdk(): Sdk {
  if ('module' in trace && 'module' in metrics && 'module' in resources && 'module' in core && 'module' in contextAsyncHooks) {
    return { trace: trace.module, metrics: metrics.module, resources: resources.module, core: core.module, contextAsyncHooks: contextAsyncHooks.module };
  }
  const missing = [trace, metrics, resources, core, contextAsyncHooks].flatMap((loaded) => ('missing' in loaded ? [loaded.missing] : []));
  throw new Error(
    `agentmetry/setup needs the OpenTelemetry JS SDK, optional peer dependencies of agentmetry, and could not load ${missing.join(', ')}. ${installAdvice()}`,
  );
}

/** An exporter package, or a thrown `Error` naming the option that needs it and the package to install. */
export function requireExporter<K extends keyof Exporters>(kind: K, option: string): Exporters[K] {
  const loaded = { prometheus, otlpTraces, otlpMetrics }[kind] as Loaded<Exporters[K]>;
  if ('module' in loaded) return loaded.module;
  const name = EXPORTER_PACKAGES[kind];
  const line = lineFor(process.versions.node);
  const problem = loaded.missing === name ? 'is not installed' : `could not be loaded (${loaded.missing})`;
  throw new Error(
    `agentmetry: startTelemetry: ${option} needs ${name}, which ${problem}: ` +
      `npm install ${name}@${line.exporters} (the release that matches SDK ${line.sdk}), or set ${option} to false`,
  );
}

/** The line a Node version runs: 3.x from its oldest supported Node on, else 2.x. */
export function lineFor(nodeVersion: string): SdkLine {
  const [three, two] = SDK_LINES;
  return compareVersions(nodeVersion, three.node) >= 0 ? three : two;
}

/** The `npm install` command for one line: the API and every SDK and exporter package, matched. */
export function installCommand(line: SdkLine): string {
  const packages = [
    `@opentelemetry/api@${line.api}`,
    ...SDK_PACKAGES.map((name) => `${name}@${line.sdk}`),
    ...Object.values(EXPORTER_PACKAGES).map((name) => `${name}@${line.exporters}`),
  ];
  return `npm install ${packages.join(' ')}`;
}

function installAdvice(): string {
  const node = process.versions.node;
  const line = lineFor(node);
  const why = line.name === '3.x' ? '' : ` (3.x needs Node ${SDK_LINES[0].node})`;
  return `Node ${node} takes the ${line.name} line${why}; install it with:\n  ${installCommand(line)}`;
}

function compareVersions(a: string, b: string): number {
  const left = a.split('.').map(Number);
  const right = b.split('.').map(Number);
  for (let index = 0; index < 3; index++) {
    const difference = (left[index] ?? 0) - (right[index] ?? 0);
    if (difference !== 0) return difference;
  }
  return 0;
}
