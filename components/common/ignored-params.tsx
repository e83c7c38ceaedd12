/** What a page left out of its filters because the URL carried a value it cannot use, and why. */
export function IgnoredParams({ problems }: { problems: string[] }) {
  if (problems.length === 0) return null;
  return (
    <p role="alert" className="rounded-md bg-destructive/10 p-3 text-sm text-destructive">
      Some parameters of this address were invalid and were ignored: {problems.join('; ')}
    </p>
  );
}
