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
