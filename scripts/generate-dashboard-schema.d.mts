/** Path of the committed schema: grafana/schema/dashboard.schema.json. */
export declare const OUTPUT: string;
/** JSON Schema (draft-07) for `Dashboard` of the installed @grafana/schema. */
export declare function generateDashboardSchema(): Record<string, unknown>;
