import { useQuery } from '@tanstack/react-query';
import { useMemo } from 'react';
import { previewScheduleAction } from '@/app/(console)/integrations/[name]/config/actions';
import { FieldError } from '@/components/common/field-error';
import { LocalTime, timeInZone, viewerTimeZone } from '@/components/common/local-time';
import { formatRelative } from '@/components/common/relative-time';
import { useDebounced } from '@/components/common/use-debounced';
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from '@/components/ui/card';
import { Input } from '@/components/ui/input';
import { Label } from '@/components/ui/label';
import { Select } from '@/components/ui/select';
import type { FormState } from './config-draft';
import type { ConfigDraft } from './use-config-draft';

/** What every section of the form gets: the draft, its setters and messages, and whether it may edit. */
export type SectionProps = Pick<ConfigDraft, 'state' | 'set' | 'err'> & { disabled: boolean };

/**
 * The next run times: the cron is evaluated in the schedule's time zone (as the worker's pg-boss
 * schedule is), the times are shown in the viewer's own zone, with UTC on hover and, when the two
 * zones differ, the schedule zone's wall clock beside each.
 */
function SchedulePreviewTimes({ next, timezone }: { next: string[]; timezone: string }) {
  const mine = viewerTimeZone();
  const same = new Intl.DateTimeFormat('en', { timeZone: timezone }).resolvedOptions().timeZone === mine;
  return (
    <div className="mt-1" data-testid="schedule-next">
      <p data-testid="schedule-zone">
        Evaluated in {timezone}
        {same ? ' (your time zone too)' : ''}. Next runs in your time zone{same ? '' : ` (${mine})`}; hover for UTC:
      </p>
      <ul className="list-disc pl-4">
        {next.map((n) => (
          <li key={n}>
            <LocalTime value={n} /> <span suppressHydrationWarning>({formatRelative(new Date(n), Date.now())})</span>
            {same ? null : <span suppressHydrationWarning>{` · ${timeInZone(n, timezone)} in ${timezone}`}</span>}
          </li>
        ))}
      </ul>
    </div>
  );
}

/** Schedule (in words and the next runs, previewed while typing), time zone and resume policy. */
export function ScheduleSection({ state, set, err, disabled }: SectionProps) {
  const scheduleInput = useDebounced({ schedule: state.schedule, timezone: state.timezone }, 250);
  const schedulePreview = useQuery({
    queryKey: ['schedule-preview', scheduleInput],
    queryFn: async () => {
      const result = await previewScheduleAction(scheduleInput);
      if (!result.ok) throw new Error(result.error);
      return result.data;
    },
    placeholderData: (previous) => previous,
  });
  const timezones = useMemo(() => (typeof Intl.supportedValuesOf === 'function' ? Intl.supportedValuesOf('timeZone') : []), []);
  return (
    <Card>
      <CardHeader>
        <CardTitle>Schedule</CardTitle>
        <CardDescription>
          Cron (5 fields, or 6 with one second first; at most one run a minute) in an IANA time zone. Leave empty for manual runs only.
        </CardDescription>
      </CardHeader>
      <CardContent className="grid gap-4 md:grid-cols-2">
        <div className="grid gap-1.5">
          <Label htmlFor="schedule">Cron expression</Label>
          <Input
            id="schedule"
            value={state.schedule}
            disabled={disabled}
            onChange={(e) => set('schedule', e.target.value)}
            placeholder="0 2 * * *"
            className="font-mono"
            aria-invalid={Boolean(err('schedule'))}
            aria-describedby="schedule-error schedule-words"
          />
          <FieldError id="schedule-error" message={err('schedule')} />
          <div id="schedule-words" className="text-xs text-muted-foreground" aria-live="polite">
            {schedulePreview.error ? (
              <span className="text-destructive">{(schedulePreview.error as Error).message}</span>
            ) : schedulePreview.data?.ok === false ? (
              // The refusal of this same value already says it on the line above.
              err('schedule') ? null : (
                <span className="text-destructive" data-testid="schedule-problem">
                  {schedulePreview.data.message}
                </span>
              )
            ) : schedulePreview.data?.ok ? (
              <>
                <span data-testid="schedule-words">{schedulePreview.data.words}</span>
                {schedulePreview.data.next.length ? (
                  <SchedulePreviewTimes next={schedulePreview.data.next} timezone={schedulePreview.data.timezone} />
                ) : null}
              </>
            ) : null}
          </div>
        </div>
        <div className="grid content-start gap-1.5">
          <Label htmlFor="timezone">Time zone</Label>
          <Input
            id="timezone"
            list="timezones"
            value={state.timezone}
            disabled={disabled}
            onChange={(e) => set('timezone', e.target.value)}
            aria-invalid={Boolean(err('timezone'))}
            aria-describedby="timezone-error"
          />
          <datalist id="timezones">
            {timezones.map((tz) => (
              <option key={tz} value={tz} />
            ))}
          </datalist>
          <FieldError id="timezone-error" message={err('timezone')} />
          <Label htmlFor="resumePolicy" className="mt-3">
            On resume after a pause
          </Label>
          <Select
            id="resumePolicy"
            value={state.resumePolicy}
            disabled={disabled}
            onChange={(e) => set('resumePolicy', e.target.value as FormState['resumePolicy'])}
          >
            <option value="skip">Skip the runs missed while paused</option>
            <option value="run_once">Run once on resume if any were missed</option>
          </Select>
        </div>
      </CardContent>
    </Card>
  );
}
