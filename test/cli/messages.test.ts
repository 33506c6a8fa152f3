import { describe, expect, it } from 'vitest';
import { bindFailure, diagLine } from '../../src/cli/demo.js';

describe('the demo’s one-line messages', () => {
  it('says why the metrics port could not be bound, from the error, its cause or its message', () => {
    const inUse = Object.assign(new Error('listen EADDRINUSE: address already in use 127.0.0.1:9464'), { code: 'EADDRINUSE' });
    expect(bindFailure(inUse)).toBe('address already in use');
    // startTelemetry's rejection: its own message, the listen error as its cause.
    expect(bindFailure(new Error('agentmetry: the Prometheus endpoint cannot listen on 127.0.0.1:80', { cause: { code: 'EACCES' } }))).toBe(
      'permission denied',
    );
    expect(bindFailure(new Error('cannot listen on 10.9.9.9:9464: EADDRNOTAVAIL'))).toBe('address not available on this machine');
    expect(bindFailure(new Error('something else'))).toBe('something else');
  });

  it('turns diag messages into one line: component loggers by their namespace, the SDK’s under the demo, never "agentmetry: agentmetry"', () => {
    expect(diagLine('agentmetry', ['shutting telemetry down did not finish within 5000 ms; gave up'])).toBe(
      'agentmetry: shutting telemetry down did not finish within 5000 ms; gave up',
    );
    expect(diagLine('agentmetry/openai-agents', ['a hook threw', new TypeError('bad')])).toBe('agentmetry/openai-agents: a hook threw bad');
    const serialized = JSON.stringify({ stack: 'Error: x\n at y', message: 'PeriodicExportingMetricReader: metrics export failed', name: 'Error' });
    expect(diagLine(serialized, [])).toBe('agentmetry demo: PeriodicExportingMetricReader: metrics export failed');
    expect(diagLine('export failed', [{ code: 14 }])).toBe('agentmetry demo: export failed {"code":14}');
  });
});
