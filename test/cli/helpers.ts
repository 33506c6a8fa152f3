import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { ROOT } from '../helpers/build.js';
import { waitFor } from '../helpers/poll.js';

/** The built command, as `npx agentmetry` runs it. */
export const CLI = `${ROOT}dist/cli/main.js`;

/**
 * Not vitest's NODE_ENV=test, which turns the OpenAI Agents SDK's tracing off (the demo turns
 * it back on, but the adapter warns about the variable).
 */
export const CHILD_ENV = { ...process.env, NODE_ENV: 'production', OTEL_EXPORTER_OTLP_ENDPOINT: '' };

export interface Running {
  child: ChildProcessWithoutNullStreams;
  output(): { stdout: string; stderr: string };
  /** Exit code, or the signal that ended it. */
  exit: Promise<number | NodeJS.Signals>;
  /** Resolves once every stdio pipe has closed: the process and any child holding them are gone. */
  closed: Promise<void>;
  /** Resolves with the output once `test` matches it. */
  until(what: string, test: (output: { stdout: string; stderr: string }) => boolean): Promise<{ stdout: string; stderr: string }>;
}

/** Spawns `command` with piped stdio, collecting its output. */
export function start(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Running {
  const child = spawn(command, args, { cwd: options.cwd ?? ROOT, env: options.env ?? CHILD_ENV });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const output = () => ({ stdout, stderr });
  const exit = new Promise<number | NodeJS.Signals>((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal!)));
  const closed = new Promise<void>((resolve) => child.on('close', () => resolve()));
  let exited = false;
  void exit.then(() => (exited = true)); // only read by until()'s failure message
  return {
    child,
    output,
    exit,
    closed,
    until: (what, test) =>
      waitFor(what, () => (test(output()) ? output() : undefined), {
        timeoutMillis: 30_000,
        intervalMillis: 50,
        describe: () => `exited: ${String(exited)}\nstdout:\n${stdout.slice(-3000)}\nstderr:\n${stderr.slice(-3000)}`,
      }),
  };
}

/** Runs the built `agentmetry` with node. */
export function startCli(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Running {
  return start(process.execPath, [CLI, ...args], options);
}

/** The per-second lines of a run without a terminal. */
export function perSecondLines(stdout: string): string[] {
  return stdout.split('\n').filter((line) => /^t=\d+s executions /.test(line));
}

/** The numbers of one per-second (or final) line. */
export interface LineNumbers {
  executions: Record<string, number>;
  active: number;
  tokens: number;
  costUsd: number;
  denials: Record<string, number>;
  quotaTokensPercent: number;
}

export function parseLine(line: string): LineNumbers {
  const match = /^t=\d+s executions (.*) active=(\d+) tokens=(\d+) cost=\$(\d+\.\d{4}) denials=(\d+)(?: \((.*)\))? quota tokens=(\d+)% cost=\d+%$/.exec(line);
  if (match === null) throw new Error(`not a summary line: ${line}`);
  const pairs = (text: string | undefined) =>
    Object.fromEntries(
      (text ?? '')
        .split(' ')
        .filter(Boolean)
        .map((pair) => [pair.split('=')[0]!, Number(pair.split('=')[1])]),
    );
  const denials = pairs(match[6]);
  const total = Object.values(denials).reduce((sum, value) => sum + value, 0);
  if (total !== Number(match[5])) throw new Error(`denials by resource do not add up to the total in: ${line}`);
  return {
    executions: pairs(match[1]),
    active: Number(match[2]),
    tokens: Number(match[3]),
    costUsd: Number(match[4]),
    denials,
    quotaTokensPercent: Number(match[7]),
  };
}

// OTLP/HTTP JSON, as the OTLP exporters send it.
interface OtlpAttribute {
  key: string;
  value: { stringValue?: string; intValue?: number | string; doubleValue?: number; boolValue?: boolean };
}
interface OtlpPoint {
  attributes?: OtlpAttribute[];
  asDouble?: number;
  asInt?: number | string;
  sum?: number;
  count?: number | string;
}
interface OtlpMetric {
  name: string;
  sum?: { dataPoints: OtlpPoint[] };
  gauge?: { dataPoints: OtlpPoint[] };
  histogram?: { dataPoints: OtlpPoint[] };
}
export interface OtlpMetricsRequest {
  resourceMetrics: Array<{ scopeMetrics: Array<{ metrics: OtlpMetric[] }> }>;
}
export interface OtlpSpan {
  name: string;
  spanId: string;
  parentSpanId?: string;
  attributes?: OtlpAttribute[];
}
export interface OtlpTracesRequest {
  resourceSpans: Array<{ scopeSpans: Array<{ spans: OtlpSpan[] }> }>;
}

export function attribute(attributes: OtlpAttribute[] | undefined, key: string): string | number | boolean | undefined {
  const value = attributes?.find((candidate) => candidate.key === key)?.value;
  if (value === undefined) return undefined;
  return value.stringValue ?? (value.intValue !== undefined ? Number(value.intValue) : (value.doubleValue ?? value.boolValue));
}

/** A metric's points in one OTLP request, each as its attributes and value (a histogram's sum). */
export function metricPoints(request: OtlpMetricsRequest, name: string): Array<{ attributes: OtlpAttribute[] | undefined; value: number }> {
  return request.resourceMetrics
    .flatMap((resource) => resource.scopeMetrics)
    .flatMap((scope) => scope.metrics)
    .filter((metric) => metric.name === name)
    .flatMap((metric) => (metric.sum ?? metric.gauge ?? metric.histogram)?.dataPoints ?? [])
    .map((point) => ({ attributes: point.attributes, value: point.sum ?? point.asDouble ?? Number(point.asInt ?? 0) }));
}

/** A metric's values summed by one attribute (all points when `key` is undefined, under ''). */
export function sumBy(request: OtlpMetricsRequest, name: string, key?: string, match: Record<string, string | number> = {}): Record<string, number> {
  const sums: Record<string, number> = {};
  for (const point of metricPoints(request, name)) {
    if (!Object.entries(match).every(([matchKey, value]) => attribute(point.attributes, matchKey) === value)) continue;
    const group = key === undefined ? '' : String(attribute(point.attributes, key));
    sums[group] = (sums[group] ?? 0) + point.value;
  }
  return sums;
}

export function spans(requests: unknown[]): OtlpSpan[] {
  return (requests as OtlpTracesRequest[]).flatMap((request) =>
    request.resourceSpans.flatMap((resource) => resource.scopeSpans.flatMap((scope) => scope.spans)),
  );
}

/** Executions by outcome in an export, every outcome present (0 when it has no series). */
export function executionsByOutcome(request: OtlpMetricsRequest): Record<string, number> {
  return { ok: 0, incomplete: 0, error: 0, timeout: 0, aborted: 0, denied: 0, ...sumBy(request, 'subagent.executions', 'subagent.outcome') };
}
