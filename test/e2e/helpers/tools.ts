/** Paths of the binaries scripts/ensure-tools.sh installed (provided by the e2e globalSetup). */
import { inject } from 'vitest';

export interface Tools {
  OTELCOL_BIN: string;
  PROMETHEUS_BIN: string;
  PROMTOOL_BIN: string;
  REDIS_SERVER_BIN: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    tools: Tools;
  }
}

export function tools(): Tools {
  return inject('tools');
}
