import type { DiagLogger } from '@opentelemetry/api';

// Kept on globalThis so that two copies of the package (agentmetry/register and the app's own) see each other.
const INSTALLS_KEY = Symbol.for('agentmetry.adapterInstalls');

/**
 * Counts the adapters installed for `framework` in this process and warns when one is added
 * while another is active: each would record every framework call, so executions, turns and
 * tokens would be counted twice (typically `agentmetry/register` plus an explicit install).
 * Returns the function that takes this install off the count. Idempotent.
 */
export function countInstall(framework: string, logger: DiagLogger): () => void {
  const installs = ((globalThis as Record<symbol, unknown>)[INSTALLS_KEY] ??= new Map<string, number>()) as Map<string, number>;
  const active = installs.get(framework) ?? 0;
  if (active > 0) {
    logger.warn(`${framework} is already instrumented by agentmetry (agentmetry/register, or an earlier install); every run will be recorded twice`);
  }
  installs.set(framework, active + 1);
  let counted = true;
  return () => {
    if (!counted) return;
    counted = false;
    installs.set(framework, (installs.get(framework) ?? 1) - 1);
  };
}
