import { diag, type DiagLogger } from '@opentelemetry/api';

const PACKAGE = 'agentmetry';

/**
 * A component logger on the OpenTelemetry `diag` channel: `agentmetry`, or `agentmetry/<component>`
 * for a subsystem such as an adapter. Every runtime telemetry problem is reported here, never thrown.
 */
export function createLogger(component?: string): DiagLogger {
  return diag.createComponentLogger({ namespace: component === undefined ? PACKAGE : `${PACKAGE}/${component}` });
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
