import { parseArgs } from 'node:util';

/** A mistake on the command line: printed with the usage hint, exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export interface DemoOptions {
  /** Framework adapter the workload runs on. Default `ai-sdk`. */
  adapter: 'ai-sdk';
  /** Prometheus `/metrics` port. Default 9464. */
  port: number;
  /** Prometheus bind address. Default `127.0.0.1`. */
  host: string;
  /** OTLP/HTTP base URL to push traces and metrics to. Default: none. */
  otlp: string | undefined;
  /** Seconds to run; `undefined` runs until Ctrl-C. */
  duration: number | undefined;
  /** Planner runs started per second. Default 1. */
  rate: number;
  /** Redraw a live summary (TTY) instead of one line per second. Default: whether stdout is a TTY. */
  live: boolean;
}

export const DEMO_HELP = `Usage: agentmetry demo [options]

Runs an offline multi-agent workload (a planner fanning out researchers, some nesting a
helper) on the Vercel AI SDK with its mock model, instrumented by agentmetry, with quotas
that start denying after a while. Serves Prometheus metrics and prints a summary each second.

Options:
  --port <n>        Prometheus /metrics port (default 9464)
  --host <addr>     Prometheus bind address (default 127.0.0.1)
  --otlp <url>      also push traces and metrics over OTLP/HTTP, e.g. http://localhost:4318
  --duration <s>    stop after this many seconds (default: run until Ctrl-C)
  --rate <n>        planner runs started per second (default 1)
  --adapter <name>  framework adapter to run on: ai-sdk (default)
  -h, --help        show this help

Ctrl-C prints a final summary and exits.`;

export const MAIN_HELP = `Usage: agentmetry <command> [options]

Commands:
  demo        run the offline multi-agent demo (agentmetry demo --help)

Options:
  -h, --help      show this help
  -v, --version   print the version`;

/** Parses `agentmetry demo` arguments; throws `UsageError` naming the offending flag. */
export function parseDemoArgs(argv: string[], isTty: boolean): DemoOptions | 'help' {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        port: { type: 'string' },
        host: { type: 'string' },
        otlp: { type: 'string' },
        duration: { type: 'string' },
        rate: { type: 'string' },
        adapter: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (values.help === true) return 'help';

  const port = values.port === undefined ? 9464 : Number(values.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new UsageError(`--port must be an integer from 1 to 65535, got '${String(values.port)}'`);

  const host = (values.host as string | undefined) ?? '127.0.0.1';
  if (host.trim() === '') throw new UsageError(`--host must not be empty`);

  const otlp = values.otlp as string | undefined;
  if (otlp !== undefined && !/^https?:\/\/[^/]/.test(otlp)) throw new UsageError(`--otlp must be an http(s) URL such as http://localhost:4318, got '${otlp}'`);

  let duration: number | undefined;
  if (values.duration !== undefined) {
    duration = Number(values.duration);
    if (!Number.isFinite(duration) || duration <= 0) throw new UsageError(`--duration must be a positive number of seconds, got '${String(values.duration)}'`);
  }

  const rate = values.rate === undefined ? 1 : Number(values.rate);
  if (!Number.isFinite(rate) || rate <= 0 || rate > 100)
    throw new UsageError(`--rate must be a number of planner runs per second in (0, 100], got '${String(values.rate)}'`);

  const adapter = (values.adapter as string | undefined) ?? 'ai-sdk';
  if (adapter !== 'ai-sdk') throw new UsageError(`--adapter must be ai-sdk, got '${adapter}'`);

  return { adapter, port, host, otlp, duration, rate, live: isTty };
}
