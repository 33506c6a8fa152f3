/**
 * `agentmetry/setup`: OpenTelemetry for an app that has none of its own. Loads the OpenTelemetry
 * JS SDK (optional peer dependencies, 3.x on Node >= 22.15 or 2.x from 2.9 on Node 20); the main
 * `agentmetry` entry never does.
 */
export { startTelemetry } from './start-telemetry.js';
export type { OtlpOptions, PrometheusOptions, Telemetry, TelemetryOptions } from './start-telemetry.js';
