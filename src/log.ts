import { inspect } from 'node:util';
import { diag, type DiagLogger } from '@opentelemetry/api';

const PACKAGE = 'agentmetry';

/**
 * A component logger on the OpenTelemetry `diag` channel: `agentmetry`, or `agentmetry/<component>`
 * for a subsystem such as an adapter. Every runtime telemetry problem is reported here, never thrown.
 */
export function createLogger(component?: string): DiagLogger {
  const inner = diag.createComponentLogger({ namespace: component === undefined ? PACKAGE : `${PACKAGE}/${component}` });
  return {
    error: (message, ...args) => write(inner.error.bind(inner), message, args),
    warn: (message, ...args) => write(inner.warn.bind(inner), message, args),
    info: (message, ...args) => write(inner.info.bind(inner), message, args),
    debug: (message, ...args) => write(inner.debug.bind(inner), message, args),
    verbose: (message, ...args) => write(inner.verbose.bind(inner), message, args),
  };
}

/**
 * Logs, and never throws: what is logged is often a value an app threw (an Error whose `message`
 * getter throws breaks `util.format`, and so the console logger), and a logger must not turn a
 * handled failure into a new one. An argument that cannot be printed is logged as its type.
 */
function write(log: (message: string, ...args: unknown[]) => void, message: string, args: unknown[]): void {
  try {
    log(message, ...args);
  } catch {
    try {
      log(message, ...args.map(printable));
    } catch {
      // A logger that fails on plain strings too: nothing left to report through.
    }
  }
}

function printable(value: unknown): string {
  try {
    return typeof value === 'string' ? value : inspect(value);
  } catch {
    return `[unprintable ${typeof value}]`;
  }
}

/** The package's own logger. */
export const logger: DiagLogger = createLogger();

/**
 * Runs a callback that belongs to someone else (an app's hook or option, an exporter, a store)
 * or that must not break the caller, logging `what` and the error instead of throwing.
 * Returns the callback's result, or `undefined` when it threw.
 */
export function safeCall<T>(log: DiagLogger, what: string, callback: () => T, level: 'warn' | 'error' = 'error'): T | undefined {
  try {
    return callback();
  } catch (error) {
    log[level](`${what} threw`, error);
    return undefined;
  }
}
