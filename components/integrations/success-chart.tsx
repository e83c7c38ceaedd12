/** Seven daily bars of success rate for one integration; grey when nothing finished that day. */
export function SuccessChart({ days }: { days: { day: string; finished: number; succeeded: number }[] }) {
  return (
    <div
      className="flex h-10 items-end gap-1"
      role="img"
      aria-label={`Success rate per day: ${days.map((d) => (d.finished ? `${d.day} ${Math.round((d.succeeded / d.finished) * 100)}%` : `${d.day} no runs`)).join(', ')}`}
    >
      {days.map((d) => {
        const rate = d.finished ? d.succeeded / d.finished : null;
        return (
          <div
            key={d.day}
            title={rate === null ? `${d.day}: no finished runs` : `${d.day}: ${d.succeeded}/${d.finished} succeeded`}
            className={
              rate === null
                ? 'w-3 rounded-sm bg-muted'
                : rate >= 0.95
                  ? 'w-3 rounded-sm bg-success'
                  : rate >= 0.5
                    ? 'w-3 rounded-sm bg-warning'
                    : 'w-3 rounded-sm bg-destructive'
            }
            style={{ height: rate === null ? '15%' : `${Math.max(15, rate * 100)}%` }}
          />
        );
      })}
    </div>
  );
}
