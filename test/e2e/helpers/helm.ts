/** The real `helm` (built by scripts/ensure-tools.sh) rendering deploy/helm/agentmetry. */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { REPO_ROOT } from './dashboards.js';
import { makeTempDir } from './processes.js';
import { tools } from './tools.js';

declare module './tools.js' {
  interface Tools {
    /** Printed by scripts/ensure-tools.sh; global-setup passes every printed path through. */
    HELM_BIN?: string;
  }
}

export const CHART_DIR = join(REPO_ROOT, 'deploy/helm/agentmetry');
export const CHART_EXAMPLES = { keda: join(CHART_DIR, 'ci/keda-values.yaml'), hpa: join(CHART_DIR, 'ci/hpa-values.yaml') } as const;
/** The plain manifests: `helm template` of the chart with CHART_EXAMPLES.keda (scripts/render-manifests.sh). */
export const PLAIN_MANIFESTS = join(REPO_ROOT, 'deploy/kubernetes/agentmetry.yaml');
export const RELEASE = 'agentmetry';

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
  [key: string]: unknown;
}

let home: string | undefined;

/** Runs helm with its cache, config and data in a private directory. Resolves to stdout and stderr. */
export async function helm(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const bin = tools().HELM_BIN;
  if (bin === undefined) throw new Error('scripts/ensure-tools.sh did not report HELM_BIN');
  home ??= makeTempDir('helm');
  const env = { ...process.env, HELM_CACHE_HOME: join(home, 'cache'), HELM_CONFIG_HOME: join(home, 'config'), HELM_DATA_HOME: join(home, 'data') };
  try {
    const { stdout, stderr } = await promisify(execFile)(bin, args, { env, cwd: REPO_ROOT, maxBuffer: 16 * 1024 * 1024 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failure = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof failure.code === 'number' ? failure.code : 1, stdout: failure.stdout ?? '', stderr: failure.stderr ?? String(error) };
  }
}

/** `helm template agentmetry deploy/helm/agentmetry` with the given values, as YAML text. Throws on a helm error. */
export async function templateChart(options: { valuesFiles?: string[]; set?: Record<string, string> } = {}): Promise<string> {
  const args = ['template', RELEASE, CHART_DIR];
  for (const file of options.valuesFiles ?? []) args.push('-f', file);
  for (const [key, value] of Object.entries(options.set ?? {})) args.push('--set-string', `${key}=${value}`);
  const result = await helm(args);
  if (result.code !== 0) throw new Error(`helm ${args.join(' ')} failed:\n${result.stderr}`);
  return result.stdout;
}

/** The objects of a multi-document manifest. */
export function parseManifests(text: string): K8sObject[] {
  return parseAllDocuments(text)
    .map((document) => document.toJS() as K8sObject | null)
    .filter((object): object is K8sObject => object !== null);
}

export function findObject(objects: K8sObject[], kind: string): K8sObject {
  const found = objects.find((object) => object.kind === kind);
  if (found === undefined) throw new Error(`no ${kind} among ${objects.map((object) => object.kind).join(', ')}`);
  return found;
}
