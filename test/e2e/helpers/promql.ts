/** PromQL syntax checks with the Prometheus project's own Lezer grammar. */
import { parser } from '@prometheus-io/lezer-promql';

export interface PromNode {
  name: string;
  text: string;
  children: PromNode[];
  parent: PromNode | undefined;
  error: boolean;
}

export function parsePromQL(expr: string): PromNode {
  const tree = parser.parse(expr);
  const cursor = tree.cursor();
  const build = (parent: PromNode | undefined): PromNode => {
    const node: PromNode = {
      name: cursor.name,
      text: expr.slice(cursor.from, cursor.to),
      children: [],
      parent,
      error: cursor.type.isError,
    };
    if (cursor.firstChild()) {
      do node.children.push(build(node));
      while (cursor.nextSibling());
      cursor.parent();
    }
    return node;
  };
  return build(undefined);
}

export function* walk(node: PromNode): Generator<PromNode> {
  yield node;
  for (const child of node.children) yield* walk(child);
}

/** Syntax errors (Lezer error nodes), as `near '…'` strings. Empty when the query parses. */
export function syntaxErrors(expr: string): string[] {
  const root = parsePromQL(expr);
  if (expr.trim() === '') return ['empty query'];
  return [...walk(root)].filter((node) => node.error).map((node) => `near '${node.parent?.text.slice(0, 60) ?? ''}'`);
}

export interface VectorSelectorInfo {
  metric: string;
  matchers: Array<{ label: string; op: string; value: string }>;
  node: PromNode;
}

export function vectorSelectors(root: PromNode): VectorSelectorInfo[] {
  return [...walk(root)]
    .filter((node) => node.name === 'VectorSelector')
    .map((node) => {
      const identifier = node.children.find((child) => child.name === 'Identifier');
      const matcherList = node.children.find((child) => child.name === 'LabelMatchers');
      const matchers = (matcherList?.children ?? [])
        .filter((child) => child.name === 'UnquotedLabelMatcher')
        .map((matcher) => ({
          label: matcher.children.find((child) => child.name === 'LabelName')?.text ?? '',
          op: matcher.children.find((child) => child.name === 'MatchOp')?.text ?? '',
          value: JSON.parse(matcher.children.find((child) => child.name === 'StringLiteral')?.text ?? '""') as string,
        }));
      return { metric: identifier?.text ?? '', matchers, node };
    });
}

/** The function a node is an argument of (`rate` for `rate(x[5m])`), if any. */
export function enclosingFunction(node: PromNode): string | undefined {
  let current = node.parent;
  while (current !== undefined && (current.name === 'OffsetExpr' || current.name === 'ParenExpr')) current = current.parent;
  if (current?.name !== 'FunctionCallBody') return undefined;
  return current.parent?.children.find((child) => child.name === 'FunctionIdentifier')?.text;
}

export function matrixSelectors(root: PromNode): Array<{ range: string; fn: string | undefined; node: PromNode }> {
  return [...walk(root)]
    .filter((node) => node.name === 'MatrixSelector')
    .map((node) => ({
      range: node.children.find((child) => child.name === 'DurationExpr' || child.name.startsWith('NumberDuration'))?.text ?? '',
      fn: enclosingFunction(node),
      node,
    }));
}

/** Labels named in `by (…)` clauses, `le` excepted. */
export function groupingLabels(root: PromNode): Set<string> {
  const labels = new Set<string>();
  for (const node of walk(root)) {
    if (node.name !== 'AggregateModifier' || !node.children.some((child) => child.name === 'By')) continue;
    for (const grouping of node.children.filter((child) => child.name === 'GroupingLabels')) {
      for (const label of grouping.children.filter((child) => child.name === 'LabelName')) if (label.text !== 'le') labels.add(label.text);
    }
  }
  return labels;
}
