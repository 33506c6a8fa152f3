/** Loads the shipped Grafana dashboards and expands their queries as Grafana would. */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const DASHBOARD_DIR = join(REPO_ROOT, 'grafana/dashboards');

export interface DashboardJson {
  uid: string;
  title: string;
  editable?: boolean;
  templating: { list: VariableJson[] };
  panels: PanelJson[];
  [key: string]: unknown;
}
export interface VariableJson {
  name: string;
  label?: string;
  type: string;
  query?: string | Record<string, unknown>;
  datasource?: { type?: string; uid?: string };
  multi?: boolean;
  includeAll?: boolean;
  allValue?: string;
  refresh?: number;
}
export interface TargetJson {
  refId: string;
  expr: string;
  legendFormat?: string;
  datasource?: { type?: string; uid?: string };
}
export interface PanelJson {
  id: number;
  type: string;
  title: string;
  description?: string;
  datasource?: { type?: string; uid?: string };
  fieldConfig?: { defaults?: { unit?: string; mappings?: unknown[] }; overrides?: unknown[] };
  targets?: TargetJson[];
  panels?: PanelJson[];
}

export interface DashboardQuery {
  dashboard: string;
  panel: PanelJson;
  target: TargetJson;
  /** `dashboard / panel title / refId`, for test names and messages. */
  key: string;
}

export function loadDashboards(): Array<{ file: string; dashboard: DashboardJson }> {
  return readdirSync(DASHBOARD_DIR)
    .filter((file) => file.endsWith('.json'))
    .sort()
    .map((file) => ({ file, dashboard: JSON.parse(readFileSync(join(DASHBOARD_DIR, file), 'utf8')) as DashboardJson }));
}

/** Panels with queries, rows flattened (collapsed rows keep theirs in `panels`). */
export function dataPanels(dashboard: DashboardJson): PanelJson[] {
  return dashboard.panels.flatMap((panel) => (panel.type === 'row' ? (panel.panels ?? []) : [panel]));
}

export function dashboardQueries(): DashboardQuery[] {
  return loadDashboards().flatMap(({ dashboard }) =>
    dataPanels(dashboard).flatMap((panel) =>
      (panel.targets ?? []).map((target) => ({
        dashboard: dashboard.uid,
        panel,
        target,
        key: `${dashboard.uid} / ${panel.title} / ${target.refId}`,
      })),
    ),
  );
}

/**
 * Values for Grafana's variables. A template variable given as an array is a
 * multi-value selection (Grafana renders it as `(a|b)` in a regex matcher); one
 * left out means "All" and takes the variable's allValue.
 */
export interface Substitution {
  rateInterval: string;
  interval?: string;
  range?: string;
  variables?: Record<string, string | string[]>;
}

export function expandQuery(expr: string, dashboard: DashboardJson, substitution: Substitution): string {
  const values: Record<string, string> = {
    __rate_interval: substitution.rateInterval,
    __interval: substitution.interval ?? substitution.rateInterval,
    __range: substitution.range ?? substitution.rateInterval,
  };
  for (const variable of dashboard.templating.list) {
    if (variable.type === 'datasource') continue;
    const chosen = substitution.variables?.[variable.name];
    if (chosen === undefined) values[variable.name] = variable.allValue ?? '.*';
    else if (Array.isArray(chosen)) values[variable.name] = chosen.length === 1 ? escapeRegex(chosen[0]!) : `(${chosen.map(escapeRegex).join('|')})`;
    else values[variable.name] = escapeRegex(chosen);
  }
  return expr.replace(/\$\{(\w+)(?::\w+)?\}|\$(\w+)/g, (_whole: string, braced: string | undefined, bare: string | undefined) => {
    const name = (braced ?? bare)!;
    const value = values[name];
    if (value === undefined) throw new Error(`query uses $${name}, which the dashboard does not define: ${expr}`);
    return value;
  });
}

/** Grafana escapes regex metacharacters in variable values used in =~ matchers. */
function escapeRegex(value: string): string {
  return value.replace(/[\\^$*+?.()|[\]{}]/g, '\\\\$&');
}

/** Label names a legend format refers to (`{{gen_ai_agent_name}}`). */
export function legendLabels(legendFormat: string | undefined): string[] {
  return [...(legendFormat ?? '').matchAll(/\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}/g)].map((match) => match[1]!);
}
