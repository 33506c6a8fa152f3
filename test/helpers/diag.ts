import { diag, DiagLogLevel } from '@opentelemetry/api';
import { afterEach, beforeEach } from 'vitest';

export interface Captured {
  /** Warnings and errors logged through OpenTelemetry's diag, one string per call. */
  logged: string[];
  /** Reasons of unhandled promise rejections in this process. */
  unhandled: unknown[];
}

/** Registers hooks that capture diag warnings and unhandled rejections around each test. */
export function captureDiagAndRejections(): Captured {
  const captured: Captured = { logged: [], unhandled: [] };
  const onUnhandled = (reason: unknown) => captured.unhandled.push(reason);
  beforeEach(() => {
    captured.logged.length = 0;
    captured.unhandled.length = 0;
    const log = (...args: unknown[]) => captured.logged.push(args.join(' '));
    diag.setLogger({ error: log, warn: log, info: () => {}, debug: () => {}, verbose: () => {} }, DiagLogLevel.WARN);
    process.on('unhandledRejection', onUnhandled);
  });
  afterEach(() => {
    diag.disable();
    process.off('unhandledRejection', onUnhandled);
  });
  return captured;
}
