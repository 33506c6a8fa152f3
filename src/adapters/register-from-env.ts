import { DiagConsoleLogger, DiagLogLevel, diag } from '@opentelemetry/api';
import { createLogger } from '../log.js';
import { AgentMeter } from '../index.js';
import { startTelemetry, type Telemetry } from '../setup/index.js';
import { readRegisterConfig, type AdapterName, type RegisterConfig } from './env-config.js';
import type { Meter } from './shared/run-handle.js';

const logger = createLogger('register');

/** What `agentmetry/register` set up; `import { registration } from 'agentmetry/register'` to reach it. */
export interface Registration {
  readonly agentmeter: AgentMeter;
  readonly telemetry: Telemetry;
  /** The adapters that were installed (their framework is present). */
  readonly adapters: AdapterName[];
  /** Removes the adapters and shuts telemetry down (bounded, never rejects). */
  shutdown(): Promise<void>;
}

type Install = (meter: Meter, options: { topLevel: boolean }) => () => void;

/** Each adapter's module, imported only when asked for: a missing framework makes its import fail. */
const ADAPTERS: Record<AdapterName, { framework: string; load: () => Promise<Install> }> = {
  'ai-sdk': { framework: 'ai', load: async () => (await import('./ai-sdk/index.js')).instrumentAiSdk },
  'openai-agents': { framework: '@openai/agents', load: async () => (await import('./openai-agents/index.js')).instrumentOpenAIAgents },
  langchain: { framework: '@langchain/core', load: async () => (await import('./langchain/index.js')).instrumentLangChain },
  mastra: { framework: '@mastra/core', load: async () => (await import('./mastra/index.js')).instrumentMastra },
};

/**
 * Starts telemetry from the environment and installs every adapter whose framework is
 * present. Never rejects: an invalid variable, or a failure to start, is printed on stderr
 * (`reportMistake`) and the app runs on; an adapter that fails to install is logged through
 * `diag` and skipped.
 * Resolves `undefined` when disabled (`AGENTMETRY_ENABLED=false`, `OTEL_SDK_DISABLED=true`) or
 * when telemetry could not start.
 */
export async function registerFromEnv(env: Record<string, string | undefined> = process.env): Promise<Registration | undefined> {
  try {
    const config = readRegisterConfig(env);
    setLogLevel(config);
    for (const warning of config.warnings) reportMistake(warning);
    if (!config.enabled) {
      logger.debug('disabled by AGENTMETRY_ENABLED or OTEL_SDK_DISABLED');
      return undefined;
    }
    const telemetry = startTelemetry({ prometheus: config.prometheus });
    // A port in use leaves the app running without /metrics; said once on stderr whatever the log
    // level: by diag when OTEL_LOG_LEVEL shows errors, else here.
    void telemetry.ready.catch((error: unknown) => {
      if (config.logLevel === undefined || config.logLevel === 'none') process.stderr.write(`${(error as Error).message}\n`);
    });
    const agentmeter = createAgentMeter(config);
    const installed: AdapterName[] = [];
    const uninstalls: Array<() => void> = [];
    for (const name of config.adapters) {
      const uninstall = await installAdapter(name, agentmeter, config.topLevel);
      if (uninstall !== undefined) {
        installed.push(name);
        uninstalls.push(uninstall);
      }
    }
    logger.debug(`installed adapters: ${installed.join(', ') || 'none'}`);
    let shutdown: Promise<void> | undefined;
    const registration: Registration = {
      agentmeter,
      telemetry,
      adapters: installed,
      shutdown: () =>
        (shutdown ??= (async () => {
          for (const uninstall of uninstalls) uninstall();
          await telemetry.shutdown();
        })()),
    };
    // Flush what is buffered when the app's event loop runs dry. No signal handlers: they would
    // change how the app reacts to SIGTERM and SIGINT.
    process.once('beforeExit', () => void registration.shutdown());
    return registration;
  } catch (error) {
    reportMistake(`could not start; the app runs without it, with no telemetry and no quotas: ${describeError(error)}`);
    return undefined;
  }
}

/**
 * Prints a configuration mistake on stderr, whatever `OTEL_LOG_LEVEL` says (`none` included): a
 * budget that silently does not apply is worse than a line at start-up. Fixing or unsetting the
 * variable silences it. Not also sent to `diag`, so that it is never printed twice.
 */
function reportMistake(message: string): void {
  process.stderr.write(`agentmetry/register: ${message}\n`);
}

function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function createAgentMeter(config: RegisterConfig): AgentMeter {
  if (config.quota === undefined) return new AgentMeter();
  try {
    return new AgentMeter({ quota: config.quota });
  } catch (error) {
    // Each variable was checked on its own; this is a guard, loud like the checks.
    reportMistake(`the AGENTMETRY_* quota settings are invalid; the app runs without quotas: ${describeError(error)}`);
    return new AgentMeter();
  }
}

async function installAdapter(name: AdapterName, agentmeter: AgentMeter, topLevel: boolean): Promise<(() => void) | undefined> {
  const adapter = ADAPTERS[name];
  let install: Install;
  try {
    install = await adapter.load();
  } catch (error) {
    if (isMissingModule(error)) logger.debug(`${name}: ${adapter.framework} is not installed; skipped`);
    else logger.warn(`${name}: loading the adapter failed; skipped`, error);
    return undefined;
  }
  try {
    return install(agentmeter, { topLevel });
  } catch (error) {
    logger.warn(`${name}: installing the adapter failed; skipped`, error);
    return undefined;
  }
}

function isMissingModule(error: unknown): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  return code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND';
}

function setLogLevel(config: RegisterConfig): void {
  if (config.logLevel === undefined) return;
  const level = DiagLogLevel[config.logLevel.toUpperCase() as keyof typeof DiagLogLevel];
  diag.setLogger(new DiagConsoleLogger(), { logLevel: level, suppressOverrideMessage: true });
}
