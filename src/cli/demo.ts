import { setMaxListeners } from 'node:events';
import { DiagLogLevel, diag } from '@opentelemetry/api';
import { AgentMeter } from '../index.js';
import { startTelemetry } from '../setup/index.js';
import type { DemoOptions } from './args.js';
import { formatLine, formatPanel, parseExposition, type Summary } from './summary.js';
import { createAiSdkWorkload, demoQuota, type Workload } from './workload.js';

export interface Output {
  write(text: string): unknown;
}

/** How long stopping waits for in-flight planners to wind down after their abort. */
const DRAIN_TIMEOUT_MS = 2000;

/**
 * Runs the demo until `--duration` elapses or `stop` resolves (Ctrl-C). Returns the exit code:
 * 0 after a final summary, 1 when the demo cannot start.
 */
export async function runDemo(options: DemoOptions, stdout: Output, stderr: Output, stop: Promise<void>): Promise<number> {
  // Telemetry problems (an exporter that cannot reach its collector) go to stderr, not silence.
  diag.setLogger(
    {
      error: (message) => void stderr.write(`agentmetry: ${message}\n`),
      warn: (message) => void stderr.write(`agentmetry: ${message}\n`),
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
  await telemetry.ready;
  const metricsUrl = telemetry.prometheusUrl!;
  if ((await scrape(metricsUrl)) === undefined) {
    stderr.write(`agentmetry: cannot serve metrics on ${options.host}:${options.port} (is the port in use? choose another with --port)\n`);
    await telemetry.shutdown();
    return 1;
  }

  const agentmeter = new AgentMeter({ quota: demoQuota(options.rate) });
  let workload: Workload;
  try {
    workload = await createAiSdkWorkload(agentmeter);
  } catch (error) {
    stderr.write(
      `agentmetry: the demo runs on the Vercel AI SDK, which is not installed (${(error as Error).message}).\n` +
        `Install it next to agentmetry (npm install ai) or run: npx -p agentmetry -p ai agentmetry demo\n`,
    );
    await telemetry.shutdown();
    return 1;
  }

  const startedAt = Date.now();
  const abort = new AbortController();
  setMaxListeners(0, abort.signal); // every planner and its subagents listen to it
  const inFlight = new Set<Promise<void>>();
  const launch = () => {
    const planner = workload.runPlanner(abort.signal);
    inFlight.add(planner);
    void planner.finally(() => inFlight.delete(planner)); // runPlanner never rejects
  };

  const otlpNote = options.otlp !== undefined ? `, pushing OTLP to ${options.otlp}` : '';
  const title = `agentmetry demo: ai-sdk workload, ${options.rate}/s planners, metrics on ${metricsUrl}${otlpNote}`;
  const summarize = async (): Promise<Summary> => {
    const exposition = await scrape(metricsUrl);
    const snapshot = agentmeter.quota?.snapshot();
    return {
      elapsedS: (Date.now() - startedAt) / 1000,
      ...parseExposition(exposition ?? ''),
      quota: snapshot && { tokens: snapshot.tokens, costUsd: snapshot.costUsd, concurrent: snapshot.concurrent },
    };
  };
  let drawnLines = 0;
  const report = async () => {
    const summary = await summarize();
    if (options.live) {
      const panel = formatPanel(summary, title);
      stdout.write(`${drawnLines > 0 ? `\x1b[${drawnLines}F\x1b[J` : ''}${panel.join('\n')}\n`);
      drawnLines = panel.length;
    } else {
      stdout.write(`${formatLine(summary)}\n`);
    }
  };

  if (!options.live) stdout.write(`${title}\n`);
  launch();
  const launcher = setInterval(launch, 1000 / options.rate);
  let reporting = Promise.resolve();
  const reporter = setInterval(() => {
    reporting = reporting.then(report).catch(() => {});
  }, 1000);
  const finished = options.duration === undefined ? stop : Promise.race([stop, sleep(options.duration * 1000)]);
  await finished;

  clearInterval(launcher);
  clearInterval(reporter);
  await reporting;
  abort.abort(); // an AbortError: the runs in flight end with outcome `aborted`
  await Promise.race([Promise.allSettled([...inFlight]), sleep(DRAIN_TIMEOUT_MS)]);
  const summary = await summarize();
  stdout.write(`\nfinal summary\n${formatPanel(summary, title).join('\n')}\n${formatLine(summary)}\n`);
  workload.uninstall();
  await telemetry.shutdown();
  return 0;
}

async function scrape(url: string): Promise<string | undefined> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
    return response.ok ? await response.text() : undefined;
  } catch {
    return undefined;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
