/**
 * Rows of runs an EXPLAIN (ANALYZE, FORMAT JSON) plan read: returned, filtered out or rechecked,
 * times its loops, over the whole plan. Runs is partitioned, so its scans name a week's partition
 * (`runs_w20261130`) or `runs_default`, never `runs` itself.
 */
export function runsScanned(node: Record<string, unknown>): number {
  const loops = Number(node['Actual Loops'] ?? 1);
  const relation = String(node['Relation Name'] ?? '');
  const own =
    relation === 'runs' || relation.startsWith('runs_')
      ? (Number(node['Actual Rows'] ?? 0) +
          Number(node['Rows Removed by Filter'] ?? 0) +
          Number(node['Rows Removed by Index Recheck'] ?? 0)) *
        loops
      : 0;
  const children = (node.Plans as Record<string, unknown>[] | undefined) ?? [];
  return own + children.reduce((sum, child) => sum + runsScanned(child), 0);
}
