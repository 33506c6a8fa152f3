/** A mistake on the command line: printed with the usage hint, exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export const ADAPTERS = ['ai-sdk', 'openai-agents'] as const;
export type DemoAdapter = (typeof ADAPTERS)[number];

export interface DemoOptions {
  /** Framework the workload runs on. Default `ai-sdk`. */
  adapter: DemoAdapter;
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
  /** Fast-forward: planners start this many times as often and models answer this many times sooner. Default 1. */
  speed: number;
  /** Redraw a live panel instead of printing one line per second. Default: whether stdout is a terminal and the demo is in its foreground. */
  live: boolean;
}

export const DEMO_HELP = `Usage: agentmetry demo [options]

Runs an offline multi-agent workload (a planner fanning out researchers, some asking a helper)
with a simulated model, instrumented by agentmetry, with quotas that start denying after a
while. Serves Prometheus metrics and shows a summary each second.

Options:
  --port <n>        Prometheus /metrics port (default 9464)
  --host <addr>     Prometheus bind address (default 127.0.0.1)
  --otlp <url>      also push traces and metrics over OTLP/HTTP, e.g. http://localhost:4318
  --duration <s>    stop after this many seconds (default: run until Ctrl-C)
  --rate <n>        planner runs started per second, in (0, 100] (default 1)
  --speed <n>       fast-forward n times, in (0, 100] (default 1): planners start n times
                    as often, models answer n times sooner, budgets run out n times sooner
  --adapter <name>  framework to run on: ai-sdk (default) or openai-agents
  -h, --help        show this help

Ctrl-C (or q) prints a final summary and exits 0.`;

export const MAIN_HELP = `Usage: agentmetry <command> [options]

Commands:
  demo        run the offline multi-agent demo (agentmetry demo --help)

Options:
  -h, --help      show this help
  -v, --version   print the version`;

/** What each flag takes, as error messages say it. */
const EXPECTED = {
  port: 'an integer from 1 to 65535',
  host: 'a host name or IP address to bind, e.g. 127.0.0.1',
  otlp: 'an http(s) URL such as http://localhost:4318',
  duration: 'a number of seconds in (0, 1000000]',
  rate: 'a number in (0, 100]',
  speed: 'a number in (0, 100]',
  adapter: ADAPTERS.join(' or '),
} as const;
type ValueFlag = keyof typeof EXPECTED;
const VALUE_FLAGS = Object.keys(EXPECTED) as ValueFlag[];

/**
 * Parses `agentmetry demo` arguments (`--flag value` or `--flag=value`; a later flag wins).
 * Throws `UsageError` naming the flag, the value given and what it takes.
 */
export function parseDemoArgs(argv: readonly string[], live: boolean): DemoOptions | 'help' {
  const values: Partial<Record<ValueFlag, string>> = {};
  for (let index = 0; index < argv.length; index += 1) {
    const arg = argv[index]!;
    if (arg === '-h' || arg === '--help') return 'help';
    if (!arg.startsWith('--')) {
      throw new UsageError(arg.startsWith('-') ? `unknown flag ${arg} (flags: ${flagList()})` : `unexpected argument '${arg}' (flags: ${flagList()})`);
    }
    const equals = arg.indexOf('=');
    const name = arg.slice(2, equals === -1 ? undefined : equals);
    if (!isValueFlag(name)) throw new UsageError(`unknown flag --${name} (flags: ${flagList()})`);
    if (equals !== -1) {
      values[name] = arg.slice(equals + 1);
    } else {
      // The next argument is the value whatever it looks like, so `--rate -1` reports the -1.
      const value = argv[index + 1];
      if (value === undefined) throw new UsageError(`--${name} needs a value: ${EXPECTED[name]}`);
      values[name] = value;
      index += 1;
    }
  }

  const port = values.port === undefined ? 9464 : integer('port', values.port, 1, 65535);
  const host = values.host ?? '127.0.0.1';
  if (!/^[\w.:%-]+$/.test(host) && !/^\[[\w.:%-]+\]$/.test(host)) throw invalid('host', host);
  const otlp = values.otlp;
  if (otlp !== undefined && !isHttpUrl(otlp)) throw invalid('otlp', otlp);
  const duration = values.duration === undefined ? undefined : positive('duration', values.duration, 1_000_000);
  const rate = values.rate === undefined ? 1 : positive('rate', values.rate, 100);
  const speed = values.speed === undefined ? 1 : positive('speed', values.speed, 100);
  const adapter = values.adapter ?? 'ai-sdk';
  if (!isAdapter(adapter)) throw invalid('adapter', adapter);

  return { adapter, port, host, otlp, duration, rate, speed, live };
}

function isValueFlag(name: string): name is ValueFlag {
  return (VALUE_FLAGS as string[]).includes(name);
}

function isAdapter(name: string): name is DemoAdapter {
  return (ADAPTERS as readonly string[]).includes(name);
}

function flagList(): string {
  return [...VALUE_FLAGS.map((flag) => `--${flag}`), '--help'].join(', ');
}

function invalid(flag: ValueFlag, value: string): UsageError {
  return new UsageError(`--${flag} must be ${EXPECTED[flag]}, got ${value === '' ? 'an empty value' : value}`);
}

/** A plain decimal number (no sign, exponent or hex) in (0, max]. */
function positive(flag: ValueFlag, value: string, max: number): number {
  const number = /^(\d+(\.\d*)?|\.\d+)$/.test(value) ? Number(value) : Number.NaN;
  if (!(number > 0 && number <= max)) throw invalid(flag, value);
  return number;
}

function integer(flag: ValueFlag, value: string, min: number, max: number): number {
  const number = /^\d+$/.test(value) ? Number(value) : Number.NaN;
  if (!(number >= min && number <= max)) throw invalid(flag, value);
  return number;
}

function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '';
  } catch {
    return false;
  }
}
