#!/usr/bin/env node
// Derives a JSON Schema (draft-07) for Grafana dashboards from the `Dashboard`
// TypeScript type that `@grafana/schema` ships (it ships types, no JSON Schema),
// using the TypeScript compiler API. Interfaces become `definitions` with
// `additionalProperties: false`, so a misspelt key fails validation; string-keyed
// records keep their value schema.
//
//   node scripts/generate-dashboard-schema.mjs           writes grafana/schema/dashboard.schema.json
//   node scripts/generate-dashboard-schema.mjs --stdout  prints it instead
//
// test/unit/dashboards.test.ts validates the shipped dashboards against the
// written file and checks that it is current for the installed @grafana/schema.
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const require = createRequire(import.meta.url);
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const OUTPUT = join(ROOT, 'grafana/schema/dashboard.schema.json');

/** @returns {Record<string, unknown>} the schema for `Dashboard` of the installed @grafana/schema */
export function generateDashboardSchema() {
  const packageJsonPath = require.resolve('@grafana/schema/package.json');
  const packageRoot = dirname(packageJsonPath);
  const { version } = JSON.parse(readFileSync(packageJsonPath, 'utf8'));
  const typesFile = join(packageRoot, 'dist/types/raw/dashboard/x/types.gen.d.ts');
  const program = ts.createProgram([typesFile], { strict: true, noEmit: true, skipLibCheck: true });
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(typesFile);
  if (source === undefined) throw new Error(`cannot read ${typesFile}`);
  const moduleSymbol = checker.getSymbolAtLocation(source);
  const dashboardSymbol = checker.getExportsOfModule(moduleSymbol).find((symbol) => symbol.name === 'Dashboard');
  if (dashboardSymbol === undefined) throw new Error('@grafana/schema has no Dashboard type');

  /** @type {Record<string, unknown>} */
  const definitions = {};
  const inProgress = new Set();

  const describe = (symbol) => {
    const text = ts.displayPartsToString(symbol.getDocumentationComment(checker)).trim();
    return text === '' ? {} : { description: text };
  };

  const namedDefinition = (type) => {
    const symbol = type.aliasSymbol ?? type.symbol;
    if (symbol === undefined) return undefined;
    const declaration = symbol.declarations?.[0];
    if (declaration === undefined || declaration.getSourceFile() !== source) return undefined;
    if (ts.isInterfaceDeclaration(declaration) || ts.isEnumDeclaration(declaration) || ts.isTypeAliasDeclaration(declaration)) {
      return symbol.name;
    }
    return undefined;
  };

  /** @returns {Record<string, unknown>} */
  const convert = (type, allowNamed = true) => {
    const name = allowNamed ? namedDefinition(type) : undefined;
    if (name !== undefined) {
      if (!(name in definitions) && !inProgress.has(name)) {
        inProgress.add(name);
        const symbol = type.aliasSymbol ?? type.symbol;
        definitions[name] = { ...describe(symbol), ...convert(type, false) };
        inProgress.delete(name);
      }
      return { $ref: `#/definitions/${name}` };
    }
    const flags = type.flags;
    if (flags & (ts.TypeFlags.Any | ts.TypeFlags.Unknown)) return {};
    if (flags & ts.TypeFlags.StringLiteral) return { type: 'string', const: type.value };
    if (flags & ts.TypeFlags.NumberLiteral) return { type: 'number', const: type.value };
    if (flags & ts.TypeFlags.BooleanLiteral) return { type: 'boolean', const: checker.typeToString(type) === 'true' };
    if (flags & ts.TypeFlags.String) return { type: 'string' };
    if (flags & ts.TypeFlags.Number) return { type: 'number' };
    if (flags & ts.TypeFlags.Boolean) return { type: 'boolean' };
    if (flags & ts.TypeFlags.Null) return { type: 'null' };
    if (type.isUnion()) {
      const members = type.types.filter((member) => !(member.flags & ts.TypeFlags.Undefined));
      const literals = members.filter((member) => member.flags & (ts.TypeFlags.StringLiteral | ts.TypeFlags.NumberLiteral));
      const booleans = members.filter((member) => member.flags & ts.TypeFlags.BooleanLiteral);
      const rest = members.filter((member) => !literals.includes(member) && !booleans.includes(member));
      const variants = [];
      if (literals.length > 0) variants.push({ enum: literals.map((member) => member.value) });
      if (booleans.length === 2) variants.push({ type: 'boolean' });
      else for (const member of booleans) variants.push(convert(member));
      for (const member of rest) variants.push(convert(member));
      return variants.length === 1 ? variants[0] : { anyOf: variants };
    }
    if (checker.isArrayType(type)) {
      const [element] = checker.getTypeArguments(type);
      return { type: 'array', items: element === undefined ? {} : convert(element) };
    }
    if (flags & ts.TypeFlags.Object) {
      /** @type {Record<string, unknown>} */
      const properties = {};
      const required = [];
      for (const property of checker.getPropertiesOfType(type)) {
        const declaration = property.valueDeclaration ?? property.declarations?.[0];
        const propertyType = checker.getTypeOfSymbolAtLocation(property, declaration ?? source);
        properties[property.name] = { ...describe(property), ...convert(propertyType) };
        if (!(property.flags & ts.SymbolFlags.Optional)) required.push(property.name);
      }
      const stringIndex = checker.getIndexInfosOfType(type).find((info) => info.keyType.flags & ts.TypeFlags.String);
      return {
        type: 'object',
        properties,
        ...(required.length > 0 ? { required } : {}),
        additionalProperties: stringIndex === undefined ? false : convert(stringIndex.type),
      };
    }
    throw new Error(`unsupported type in @grafana/schema Dashboard: ${checker.typeToString(type)}`);
  };

  const root = convert(checker.getDeclaredTypeOfSymbol(dashboardSymbol));
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    $comment: `Generated by scripts/generate-dashboard-schema.mjs from @grafana/schema ${version} (type Dashboard). Do not edit.`,
    title: 'Grafana dashboard',
    ...root,
    definitions,
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const text = `${JSON.stringify(generateDashboardSchema(), null, 2)}\n`;
  if (process.argv.includes('--stdout')) {
    process.stdout.write(text);
  } else {
    mkdirSync(dirname(OUTPUT), { recursive: true });
    writeFileSync(OUTPUT, text);
    console.log(`wrote ${OUTPUT}`);
  }
}
