import type { DiagLogger } from '@opentelemetry/api';

/**
 * Calls one of the app's adapter options (`name`, `spec`, `costUsd`, ...). If it throws, the
 * failure is logged and the option's default applies: a broken callback never reaches the
 * framework call it belongs to.
 */
export function callOption<T>(logger: DiagLogger, what: string, callback: () => T): T | undefined {
  try {
    return callback();
  } catch (error) {
    logger.warn(`options.${what} threw; using the default`, error);
    return undefined;
  }
}
