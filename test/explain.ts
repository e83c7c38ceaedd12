/**
 * Rows of `table` an EXPLAIN (ANALYZE, FORMAT JSON) plan read: returned, filtered out or
 * rechecked, times its loops, over the whole plan. The run tables are partitioned, so their scans
 * name a week's partition (`runs_w20261130`) or the default one (`runs_default`), never the table.
 */
export function rowsScanned(node: Record<string, unknown>, table: string): number {
  const loops = Number(node['Actual Loops'] ?? 1);
  const relation = String(node['Relation Name'] ?? '');
  const own =
    relation === table || relation.startsWith(`${table}_w`) || relation === `${table}_default`
      ? (Number(node['Actual Rows'] ?? 0) +
          Number(node['Rows Removed by Filter'] ?? 0) +
          Number(node['Rows Removed by Index Recheck'] ?? 0)) *
        loops
      : 0;
  const children = (node.Plans as Record<string, unknown>[] | undefined) ?? [];
  return own + children.reduce((sum, child) => sum + rowsScanned(child, table), 0);
}

/** rowsScanned of `runs`. */
export function runsScanned(node: Record<string, unknown>): number {
  return rowsScanned(node, 'runs');
}

/** The relations an EXPLAIN (FORMAT JSON) plan reads or writes, each once. */
export function relationsIn(node: Record<string, unknown>, into = new Set<string>()): Set<string> {
  if (node['Relation Name']) into.add(String(node['Relation Name']));
  for (const child of (node.Plans as Record<string, unknown>[] | undefined) ?? []) relationsIn(child, into);
  return into;
}
