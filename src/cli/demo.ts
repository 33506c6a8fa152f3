import { setMaxListeners } from 'node:events';
import { DiagLogLevel, diag } from '@opentelemetry/api';
import { AgentMeter } from '../index.js';
import { startTelemetry } from '../setup/index.js';
import type { DemoOptions } from './args.js';
import { pace, renderLine, renderPanel, type PanelHeading } from './render.js';
import { DEFAULT_SIZE, LiveScreen, type Output, type Terminal } from './screen.js';
import { readSummary, type Summary } from './summary.js';
import { MissingFrameworkError, demoQuota, loadWorkload, type WorkloadFactory } from './workload.js';

export interface DemoIo {
  stdout: Output;
  stderr: Output;
  /** stdout's terminal, when it is one and the panel is live. */
  terminal: Terminal | undefined;
  /** Resolves when the user asks to stop (Ctrl-C, SIGINT, SIGTERM). */
  stop: Promise<unknown>;
}

/** How every line the demo prints about itself starts. */
export const PREFIX = 'agentmetry demo';
/** How long stopping waits for in-flight planners to wind down after their abort. */
const DRAIN_TIMEOUT_MS = 2000;
/** How long a scrape of the demo's own `/metrics` may take (its event loop is busy with the workload too). */
const SCRAPE_TIMEOUT_MS = 10_000;

/**
 * Runs the demo until `--duration` elapses or `io.stop` resolves. Returns the exit code: 0
 * after the final summary, 1 when the demo cannot start (a framework not installed, the
 * metrics port not available).
 */
export async function runDemo(options: DemoOptions, io: DemoIo): Promise<number> {
  // 1. The framework, before anything listens.
  let createWorkload: WorkloadFactory;
  try {
    createWorkload = await loadWorkload(options.adapter);
  } catch (error) {
    if (!(error instanceof MissingFrameworkError)) throw error;
    io.stderr.write(`${PREFIX}: ${error.message}\n`);
    return 1;
  }

  // 2. Telemetry, its /metrics endpoint listening before anything is drawn. Telemetry
  // warnings wait until then: a port that cannot be bound is reported in one line below.
  const warnings = new Warnings(io.stderr);
  diag.setLogger(
    {
      error: (message, ...args) => warnings.add(diagLine(message, args)),
      warn: (message, ...args) => warnings.add(diagLine(message, args)),
      info: () => {},
      debug: () => {},
      verbose: () => {},
    },
    { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true },
  );
  const telemetry = startTelemetry({
    serviceName: 'agentmetry-demo',
    prometheus: { host: options.host, port: options.port },
    ...(options.otlp !== undefined ? { otlp: { endpoint: options.otlp, exportIntervalMillis: 5000 } } : {}),
  });
  let metricsUrl: string | undefined;
  try {
    await telemetry.ready;
    metricsUrl = telemetry.prometheusUrl;
  } catch (error) {
    io.stderr.write(`${PREFIX}: cannot serve metrics on ${options.host}:${options.port} (${bindFailure(error)}); choose another port with --port <n>\n`);
    await telemetry.shutdown();
    return 1;
  }
  if (metricsUrl === undefined) throw new Error('startTelemetry() resolved ready without a Prometheus URL');
  warnings.release(options.live && io.terminal !== undefined ? 'hold' : 'print');

  // 3. The workload, under quotas, until stopped.
  const agentmeter = new AgentMeter({ quota: demoQuota(options.rate) });
  const workload = createWorkload(agentmeter, options.speed);
  const startedAt = performance.now();
  const url = metricsUrl;
  const summarize = async (): Promise<Summary> => readSummary(agentmeter, (performance.now() - startedAt) / 1000, await scrape(url));
  const heading = (status: string, warning?: string): PanelHeading => ({
    adapter: options.adapter,
    rate: options.rate,
    speed: options.speed,
    metricsUrl: url,
    otlp: options.otlp,
    status,
    warning,
  });

  const abort = new AbortController();
  setMaxListeners(0, abort.signal); // every planner and its subagents listen to it
  const inFlight = new Set<Promise<void>>();
  const launch = () => {
    const planner = workload.runPlanner(abort.signal);
    inFlight.add(planner);
    void planner.finally(() => inFlight.delete(planner)); // runPlanner never rejects
  };

  const screen = options.live && io.terminal !== undefined ? new LiveScreen(io.stdout, io.terminal) : undefined;
  let latest = readSummary(agentmeter, 0, '');
  const draw = () => screen?.draw(renderPanel(latest, heading('Ctrl-C or q: stop with a final summary', warnings.latest), screen.width));
  const report = async () => {
    latest = await summarize();
    if (screen !== undefined) draw();
    else io.stdout.write(`${renderLine(latest)}\n`);
  };

  let launcher: NodeJS.Timeout | undefined;
  let reporter: NodeJS.Timeout | undefined;
  let stopListening: (() => void) | undefined;
  let final: Summary;
  try {
    if (screen !== undefined) {
      screen.open();
      draw();
      stopListening = io.terminal?.onResize(draw);
    } else {
      const otlpNote = options.otlp !== undefined ? `, pushing OTLP to ${options.otlp}` : '';
      io.stdout.write(`${PREFIX}: ${[`${options.adapter} workload`, ...pace(options.rate, options.speed), `metrics on ${url}`].join(', ')}${otlpNote}\n`);
    }
    launch();
    // --speed fast-forwards: planners start that many times as often and their models answer that much sooner.
    launcher = setInterval(launch, 1000 / (options.rate * options.speed));
    // One report at a time: a tick that comes while the last report is still reading is skipped.
    let reporting: Promise<void> | undefined;
    reporter = setInterval(() => {
      reporting ??= report()
        .catch((error: unknown) => warnings.add(`updating the summary failed: ${describe(error)}`))
        .finally(() => (reporting = undefined));
    }, 1000);
    await (options.duration === undefined ? io.stop : Promise.race([io.stop, sleep(options.duration * 1000)]));

    clearInterval(launcher);
    clearInterval(reporter);
    await reporting;
    abort.abort(); // an AbortError: the runs in flight end with outcome `aborted`
    await Promise.race([Promise.allSettled([...inFlight]), sleep(DRAIN_TIMEOUT_MS)]);
    final = await summarize();
  } finally {
    clearInterval(launcher);
    clearInterval(reporter);
    stopListening?.();
    screen?.close();
  }

  const width = screen !== undefined ? screen.width : DEFAULT_SIZE.columns;
  const panel = renderPanel(final, heading(`final summary after ${Math.round(final.elapsedS)}s`), width);
  io.stdout.write(`${panel.join('\n')}\n${screen === undefined ? `${renderLine(final)}\n` : ''}`);
  warnings.release('print');
  workload.uninstall();
  await telemetry.shutdown();
  return 0;
}

/**
 * Telemetry warnings and errors: held until `release`, then printed as they come, or (while a
 * live panel covers the screen) kept, the latest shown on the panel, and printed once each at
 * the end.
 */
class Warnings {
  latest: string | undefined;
  #mode: 'hold' | 'print' = 'hold';
  readonly #held = new Map<string, number>();

  constructor(private readonly stderr: Output) {}

  add(text: string): void {
    const message = text.replace(/\s+/g, ' ').trim(); // one line each, on the panel too
    if (this.#mode === 'print') {
      this.stderr.write(`${message}\n`);
      return;
    }
    this.latest = message;
    this.#held.set(message, (this.#held.get(message) ?? 0) + 1);
  }

  release(mode: 'hold' | 'print'): void {
    this.#mode = mode;
    if (mode === 'hold') return;
    for (const [message, count] of this.#held) this.stderr.write(`${message}${count > 1 ? ` (${count} times)` : ''}\n`);
    this.#held.clear();
    this.latest = undefined;
  }
}

/**
 * A diag message as one line: `agentmetry/<component>: ...` from agentmetry's component loggers
 * (their namespace comes first), `agentmetry demo: ...` for the OpenTelemetry SDK's (whose
 * error handler passes an exception serialized as JSON: its message is kept).
 */
export function diagLine(message: string, args: unknown[]): string {
  const describeArg = (arg: unknown) => {
    if (typeof arg !== 'object' || arg === null || arg instanceof Error) return describe(arg);
    try {
      return JSON.stringify(arg);
    } catch {
      return '[unserializable object]'; // a cycle, say
    }
  };
  if (/^agentmetry(\/[\w-]+)?$/.test(message) && args.length > 0) return `${message}: ${args.map(describeArg).join(' ')}`;
  let text = message;
  try {
    const parsed: unknown = JSON.parse(message);
    if (typeof parsed === 'object' && parsed !== null && typeof (parsed as { message?: unknown }).message === 'string')
      text = (parsed as { message: string }).message;
  } catch {
    // Not JSON: the message as it is.
  }
  return `${PREFIX}: ${[text, ...args.map(describeArg)].join(' ')}`;
}

/** Why the metrics port could not be bound, in words: from the error's code, or its message. */
export function bindFailure(error: unknown): string {
  const reasons: Record<string, string> = {
    EADDRINUSE: 'address already in use',
    EACCES: 'permission denied',
    EADDRNOTAVAIL: 'address not available on this machine',
    ENOTFOUND: 'host not found',
  };
  const { code, cause } = (error ?? {}) as { code?: unknown; cause?: { code?: unknown } };
  const text = describe(error);
  const found = [code, cause?.code, /\b(E[A-Z]{3,})\b/.exec(text)?.[1]].find((candidate): candidate is string => typeof candidate === 'string');
  return found === undefined ? text : (reasons[found] ?? found);
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

async function scrape(url: string): Promise<string | undefined> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(SCRAPE_TIMEOUT_MS) });
    return response.ok ? await response.text() : undefined;
  } catch {
    return undefined;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
