/**
 * What a tab says of an integration that has a row in the database but no handler in this web
 * build's registry, so the console has no settings schema, secrets or mapping for it. Two causes,
 * told apart by the row: the worker (which runs the sources) still registers it, so the console was
 * built before it was added or renamed; or nothing registers it any more (orphaned). Said to every
 * role: it is not a matter of permissions, and an admin must not be told "only admins can".
 */
export function notInBuildText({ registered, toDo }: { registered: boolean; toDo: string }): string {
  return registered
    ? `This integration is not in this build of the console: it was added or renamed after the web app was built. Rebuild and restart (npm start rebuilds when sources changed) to ${toDo}.`
    : `This integration is orphaned: its handler is no longer registered (removed from lib/integrations/index.ts, or renamed). Its history and configuration are kept; register the handler again to ${toDo}.`;
}

export function NotInBuildNotice(props: { registered: boolean; toDo: string }) {
  return (
    <p role="status" className="rounded-md border border-warning bg-warning/10 p-3 text-sm" data-testid="not-in-build">
      {notInBuildText(props)}
    </p>
  );
}
