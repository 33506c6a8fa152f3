import { diag } from '@opentelemetry/api';

/** The package's component logger: every runtime telemetry problem is reported here, never thrown. */
export const logger = diag.createComponentLogger({ namespace: 'agentmetry' });

/** Runs a callback that belongs to someone else (a user hook, an exporter), logging instead of throwing. */
export function callSafely<T>(what: string, callback: () => T): T | undefined {
  try {
    return callback();
  } catch (error) {
    logger.error(`${what} failed`, error);
    return undefined;
  }
}
