/**
 * Zero-code start: `node --import agentmetry/register app.js`.
 *
 * Starts telemetry from the standard `OTEL_*` variables and the `AGENTMETRY_*` ones (see
 * docs/register.md for the table), and instruments every supported agent framework the app has
 * installed, without touching the app's code. Never throws into the app; an invalid variable,
 * or a failure to start, is printed on stderr whatever the log level.
 */
import { registerFromEnv } from './adapters/register-from-env.js';

export type { Registration } from './adapters/register-from-env.js';

/** Resolves to what was set up, or `undefined` when disabled or failed (printed on stderr). */
export const registration = registerFromEnv(process.env);

// Node waits for a preloaded module's top-level await: the app starts with the adapters in place.
await registration;
