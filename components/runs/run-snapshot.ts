/** What a run page was rendered with; a live poll that reads anything else re-renders the page. */
export function runSnapshot(run: { status: string; attemptCount: number; progressDone: number | null }): string {
  return `${run.status}|${run.attemptCount}|${run.progressDone ?? ''}`;
}
