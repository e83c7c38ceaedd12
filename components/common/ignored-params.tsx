/**
 * What a page left out of its filters because the URL carried a value it cannot use (a parameter
 * it does not read, a bad value, an integration that does not exist, a repeated parameter's
 * values after the first), and why.
 */
export function IgnoredParams({ problems }: { problems: string[] }) {
  if (problems.length === 0) return null;
  return (
    <p role="alert" className="rounded-md bg-destructive/10 p-3 text-sm text-destructive">
      Parts of this address were ignored: {problems.join('; ')}
    </p>
  );
}
