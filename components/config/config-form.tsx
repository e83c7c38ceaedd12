'use client';

import { useQuery } from '@tanstack/react-query';
import { useRouter } from 'next/navigation';
import { useMemo, useState, useTransition } from 'react';
import { toast } from 'sonner';
import { previewScheduleAction, saveConfigAction } from '@/app/(console)/integrations/[name]/config/actions';
import { FieldError } from '@/components/common/field-error';
import { exactTime } from '@/components/common/relative-time';
import { StaleMergePanel } from '@/components/common/stale-merge-panel';
import { useDebounced } from '@/components/common/use-debounced';
import { Button } from '@/components/ui/button';
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from '@/components/ui/card';
import { Dialog, DialogContent, DialogDescription, DialogFooter, DialogHeader, DialogTitle } from '@/components/ui/dialog';
import { Input } from '@/components/ui/input';
import { Label } from '@/components/ui/label';
import { Select } from '@/components/ui/select';

export interface JsonSchemaProperty {
  type?: string | string[];
  format?: string;
  minimum?: number;
  maximum?: number;
  enum?: unknown[];
  description?: string;
}

export interface ConfigFormInitial {
  integration: string;
  version: number;
  schedule: string | null;
  timezone: string;
  retryDelays: string[];
  breakerFailures: number;
  breakerCooldown: string;
  retryBudget: number | null;
  resumePolicy: 'skip' | 'run_once';
  settings: Record<string, unknown>;
  alertRouting: { channelIds: string[] | 'all' };
}

interface FormState {
  schedule: string;
  timezone: string;
  retryDelays: string;
  breakerFailures: string;
  breakerCooldown: string;
  retryBudget: string;
  resumePolicy: 'skip' | 'run_once';
  settings: Record<string, string | boolean>;
  routeAll: boolean;
  channelIds: string[];
}

function toState(initial: ConfigFormInitial, schema: Record<string, JsonSchemaProperty>): FormState {
  const settings: Record<string, string | boolean> = {};
  for (const [key, prop] of Object.entries(schema)) {
    const value = initial.settings[key];
    settings[key] = prop.type === 'boolean' ? Boolean(value) : value === undefined || value === null ? '' : String(value);
  }
  return {
    schedule: initial.schedule ?? '',
    timezone: initial.timezone,
    retryDelays: initial.retryDelays.join(', '),
    breakerFailures: String(initial.breakerFailures),
    breakerCooldown: initial.breakerCooldown,
    retryBudget: initial.retryBudget === null ? '' : String(Math.round(initial.retryBudget * 1000) / 10),
    resumePolicy: initial.resumePolicy,
    settings,
    routeAll: initial.alertRouting.channelIds === 'all',
    channelIds: initial.alertRouting.channelIds === 'all' ? [] : [...initial.alertRouting.channelIds],
  };
}

function numberOrText(text: string): number | string {
  const trimmed = text.trim();
  return trimmed !== '' && Number.isFinite(Number(trimmed)) ? Number(trimmed) : text;
}

/** The patch the form means, with only the fields that differ from what was loaded. */
function buildPatch(state: FormState, initial: ConfigFormInitial, schema: Record<string, JsonSchemaProperty>) {
  const patch: Record<string, unknown> = {};
  const schedule = state.schedule.trim() === '' ? null : state.schedule.trim();
  if (schedule !== initial.schedule) patch.schedule = schedule;
  if (state.timezone.trim() !== initial.timezone) patch.timezone = state.timezone.trim();
  const delays = state.retryDelays.split(/[,\s]+/).filter(Boolean);
  if (delays.join(',') !== initial.retryDelays.join(',')) patch.retryDelays = delays;
  const failures = numberOrText(state.breakerFailures);
  if (failures !== initial.breakerFailures) patch.breakerFailures = failures;
  if (state.breakerCooldown.trim() !== initial.breakerCooldown) patch.breakerCooldown = state.breakerCooldown.trim();
  const budget =
    state.retryBudget.trim() === ''
      ? null
      : typeof numberOrText(state.retryBudget) === 'number'
        ? Number(state.retryBudget) / 100
        : state.retryBudget;
  if (budget !== initial.retryBudget) patch.retryBudget = budget;
  if (state.resumePolicy !== initial.resumePolicy) patch.resumePolicy = state.resumePolicy;
  const settings: Record<string, unknown> = { ...initial.settings };
  let settingsChanged = false;
  for (const [key, prop] of Object.entries(schema)) {
    const raw = state.settings[key];
    let value: unknown;
    if (prop.type === 'boolean') value = Boolean(raw);
    else if (prop.type === 'integer' || prop.type === 'number') value = String(raw).trim() === '' ? undefined : numberOrText(String(raw));
    else value = String(raw) === '' ? undefined : String(raw);
    if (value === undefined) delete settings[key];
    else settings[key] = value;
    if (JSON.stringify(value) !== JSON.stringify(initial.settings[key])) settingsChanged = true;
  }
  if (settingsChanged) patch.settings = settings;
  const routing = state.routeAll ? 'all' : [...state.channelIds].sort();
  const initialRouting = initial.alertRouting.channelIds === 'all' ? 'all' : [...initial.alertRouting.channelIds].sort();
  if (JSON.stringify(routing) !== JSON.stringify(initialRouting)) patch.alertRouting = { channelIds: routing };
  return patch;
}

function show(value: unknown): string {
  if (value === null || value === undefined) return '—';
  if (Array.isArray(value)) return value.join(', ');
  return typeof value === 'object' ? JSON.stringify(value) : String(value);
}

function diffRows(patch: Record<string, unknown>, initial: ConfigFormInitial) {
  const rows: { field: string; from: string; to: string }[] = [];
  for (const [field, value] of Object.entries(patch)) {
    if (field === 'settings') {
      const next = value as Record<string, unknown>;
      for (const key of new Set([...Object.keys(initial.settings), ...Object.keys(next)])) {
        if (JSON.stringify(initial.settings[key]) !== JSON.stringify(next[key]))
          rows.push({ field: `settings.${key}`, from: show(initial.settings[key]), to: show(next[key]) });
      }
    } else if (field === 'alertRouting') {
      const names = (v: { channelIds: string[] | 'all' }) =>
        v.channelIds === 'all' ? 'every enabled channel' : v.channelIds.length ? `${v.channelIds.length} chosen channel(s)` : 'no channel';
      rows.push({ field, from: names(initial.alertRouting), to: names(value as { channelIds: string[] | 'all' }) });
    } else if (field === 'retryBudget') {
      const pct = (v: unknown) => (typeof v === 'number' ? `${Math.round(v * 1000) / 10}%` : show(v));
      rows.push({ field, from: pct(initial.retryBudget), to: pct(value) });
    } else {
      rows.push({ field, from: show((initial as unknown as Record<string, unknown>)[field]), to: show(value) });
    }
  }
  return rows;
}

/** What the stale refusal carries: the configuration as it is now, and who changed it. */
type LatestConfig = Omit<ConfigFormInitial, 'integration'> & { updatedBy: string; updatedAt: string };

/**
 * The draft re-applied on top of someone else's saved change: every field the admin changed
 * (compared with what they loaded) keeps their value, every other field takes the saved one.
 */
function rebaseState(draft: FormState, loaded: FormState, latest: FormState): FormState {
  const mine = <T,>(a: T, b: T) => JSON.stringify(a) !== JSON.stringify(b);
  const settings: Record<string, string | boolean> = { ...latest.settings };
  for (const key of Object.keys(draft.settings)) if (mine(draft.settings[key], loaded.settings[key])) settings[key] = draft.settings[key];
  const routingMine = mine(draft.routeAll, loaded.routeAll) || mine([...draft.channelIds].sort(), [...loaded.channelIds].sort());
  const pick = <K extends keyof FormState>(key: K): FormState[K] => (mine(draft[key], loaded[key]) ? draft[key] : latest[key]);
  return {
    schedule: pick('schedule'),
    timezone: pick('timezone'),
    retryDelays: pick('retryDelays'),
    breakerFailures: pick('breakerFailures'),
    breakerCooldown: pick('breakerCooldown'),
    retryBudget: pick('retryBudget'),
    resumePolicy: pick('resumePolicy'),
    settings,
    routeAll: routingMine ? draft.routeAll : latest.routeAll,
    channelIds: routingMine ? draft.channelIds : latest.channelIds,
  };
}

interface Rebased {
  by: string;
  at: string;
  theirs: { field: string; from: string; to: string }[];
  mine: { field: string; from: string; to: string }[];
}

function ChangeList({ rows, empty, testId }: { rows: { field: string; from: string; to: string }[]; empty: string; testId: string }) {
  if (rows.length === 0) return <p className="text-muted-foreground">{empty}</p>;
  return (
    <ul className="mt-1 flex flex-col gap-1" data-testid={testId}>
      {rows.map((r) => (
        <li key={r.field}>
          <span className="font-medium">{r.field}</span>: <code className="rounded bg-muted px-1">{r.from}</code> →{' '}
          <code className="rounded bg-muted px-1">{r.to}</code>
        </li>
      ))}
    </ul>
  );
}

/**
 * The config editor: a form from the integration's settings schema plus schedule (in words, next 5
 * runs), time zone, retries and breaker; a diff of what will change before saving; a stale edit says
 * who changed it and offers a reload.
 */
export function ConfigForm({
  initial,
  settingsSchema,
  required,
  canEdit,
  channels,
}: {
  initial: ConfigFormInitial;
  settingsSchema: Record<string, JsonSchemaProperty>;
  required: string[];
  canEdit: boolean;
  channels: { id: string; name: string; type: string; enabled: boolean }[];
}) {
  const router = useRouter();
  // What the draft is compared with and saved against: the loaded configuration, or after a stale
  // refusal the one saved meanwhile (the draft then sits on top of it).
  const [base, setBase] = useState<ConfigFormInitial>(initial);
  const [state, setState] = useState<FormState>(() => toState(initial, settingsSchema));
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [stale, setStale] = useState<{ message: string; latest: LatestConfig | null } | null>(null);
  const [rebased, setRebased] = useState<Rebased | null>(null);
  const [formError, setFormError] = useState<string | null>(null);
  const [reviewing, setReviewing] = useState(false);
  const [pending, start] = useTransition();
  const patch = useMemo(() => buildPatch(state, base, settingsSchema), [state, base, settingsSchema]);
  const diff = useMemo(() => diffRows(patch, base), [patch, base]);
  const set = <K extends keyof FormState>(key: K, value: FormState[K]) => setState((s) => ({ ...s, [key]: value }));
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

  const save = () =>
    start(async () => {
      const result = await saveConfigAction({ integration: base.integration, expectedVersion: base.version, patch });
      setReviewing(false);
      if (result.ok) {
        setErrors({});
        setFormError(null);
        setRebased(null);
        toast.success(
          result.data.changed.length
            ? `Saved ${result.data.changed.length} change${result.data.changed.length === 1 ? '' : 's'}; see History`
            : 'Nothing changed',
        );
        router.refresh();
      } else if (result.status === 409) {
        const latest = (result.details?.latest ?? null) as LatestConfig | null;
        setStale({ message: result.error, latest });
      } else {
        setErrors(result.fieldErrors ?? {});
        setFormError(result.error);
      }
    });

  /** Keeps the draft: shows what the other person saved beside it and re-applies it on top. */
  const reloadKeepingDraft = () => {
    const latest = stale?.latest;
    setStale(null);
    if (!latest) {
      router.refresh();
      return;
    }
    const latestInitial: ConfigFormInitial = { ...latest, integration: base.integration };
    const loaded = toState(base, settingsSchema);
    const theirs = diffRows(buildPatch(toState(latestInitial, settingsSchema), base, settingsSchema), base);
    setRebased({ by: latest.updatedBy, at: latest.updatedAt, theirs, mine: diff });
    setState(rebaseState(state, loaded, toState(latestInitial, settingsSchema)));
    setBase(latestInitial);
  };

  const disabled = !canEdit;
  const err = (key: string) => errors[key] ?? Object.entries(errors).find(([k]) => k.startsWith(`${key}.`))?.[1];

  return (
    <form
      className="flex flex-col gap-4"
      onSubmit={(e) => {
        e.preventDefault();
        setReviewing(true);
      }}
      noValidate
    >
      {stale ? (
        <div
          role="alert"
          className="flex flex-wrap items-center gap-3 rounded-md border border-destructive/40 bg-destructive/10 p-3 text-sm text-destructive"
        >
          <span>{stale.message}. Your changes are still in the form.</span>
          <Button type="button" size="sm" variant="outline" onClick={reloadKeepingDraft}>
            Reload, keeping my changes
          </Button>
        </div>
      ) : null}
      {rebased ? (
        <StaleMergePanel
          intro={
            <>
              <strong>{rebased.by}</strong> saved a change at {exactTime(new Date(rebased.at))}. The form now holds their configuration with
              your changes re-applied on top; nothing is saved until you review and save.
            </>
          }
          theirs={<ChangeList rows={rebased.theirs} empty="Nothing you can see here (a secret or the mapping)." testId="their-change" />}
          mineTitle="Your changes, re-applied"
          mine={<ChangeList rows={rebased.mine} empty="None." testId="my-change" />}
          conflict={
            rebased.mine.some((m) => rebased.theirs.some((t) => t.field === m.field))
              ? `You both changed ${rebased.mine
                  .filter((m) => rebased.theirs.some((t) => t.field === m.field))
                  .map((m) => m.field)
                  .join(', ')}: the form has your value. Check it before saving.`
              : null
          }
          actions={
            <div className="flex flex-wrap gap-2">
              <Button type="submit" size="sm" disabled={diff.length === 0 || pending}>
                Review and save my changes
              </Button>
              <Button
                type="button"
                size="sm"
                variant="outline"
                onClick={() => {
                  setState(toState(base, settingsSchema));
                  setRebased(null);
                }}
              >
                Discard mine, keep theirs
              </Button>
            </div>
          }
        />
      ) : null}
      {formError ? (
        <p role="alert" className="rounded-md bg-destructive/10 p-3 text-sm text-destructive">
          {formError}
        </p>
      ) : null}
      <Card>
        <CardHeader>
          <CardTitle>Schedule</CardTitle>
          <CardDescription>Cron (5 or 6 fields) in an IANA time zone. Leave empty for manual runs only.</CardDescription>
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
                <span className="text-destructive" data-testid="schedule-problem">
                  {schedulePreview.data.message}
                </span>
              ) : schedulePreview.data?.ok ? (
                <>
                  <span data-testid="schedule-words">{schedulePreview.data.words}</span>
                  {schedulePreview.data.next.length ? (
                    <ul className="mt-1 list-disc pl-4">
                      {schedulePreview.data.next.map((n) => (
                        <li key={n}>{exactTime(new Date(n))}</li>
                      ))}
                    </ul>
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

      <Card>
        <CardHeader>
          <CardTitle>Retries and circuit breaker</CardTitle>
          <CardDescription>
            Delays between attempts (attempts = delays + 1); the breaker opens after consecutive failures of the external system.
          </CardDescription>
        </CardHeader>
        <CardContent className="grid gap-4 md:grid-cols-2">
          <div className="grid gap-1.5">
            <Label htmlFor="retryDelays">Retry delays</Label>
            <Input
              id="retryDelays"
              value={state.retryDelays}
              disabled={disabled}
              onChange={(e) => set('retryDelays', e.target.value)}
              placeholder="30s, 2m, 5m"
              aria-invalid={Boolean(err('retryDelays'))}
              aria-describedby="retryDelays-error"
            />
            <FieldError id="retryDelays-error" message={err('retryDelays')} />
          </div>
          <div className="grid gap-1.5">
            <Label htmlFor="retryBudget">Retry budget (% of attempts in the last hour; empty = none)</Label>
            <Input
              id="retryBudget"
              inputMode="decimal"
              value={state.retryBudget}
              disabled={disabled}
              onChange={(e) => set('retryBudget', e.target.value)}
              placeholder="e.g. 20"
              aria-invalid={Boolean(err('retryBudget'))}
              aria-describedby="retryBudget-error"
            />
            <FieldError id="retryBudget-error" message={err('retryBudget')} />
          </div>
          <div className="grid gap-1.5">
            <Label htmlFor="breakerFailures">Breaker opens after (consecutive failures)</Label>
            <Input
              id="breakerFailures"
              inputMode="numeric"
              value={state.breakerFailures}
              disabled={disabled}
              onChange={(e) => set('breakerFailures', e.target.value)}
              aria-invalid={Boolean(err('breakerFailures'))}
              aria-describedby="breakerFailures-error"
            />
            <FieldError id="breakerFailures-error" message={err('breakerFailures')} />
          </div>
          <div className="grid gap-1.5">
            <Label htmlFor="breakerCooldown">Breaker cooldown</Label>
            <Input
              id="breakerCooldown"
              value={state.breakerCooldown}
              disabled={disabled}
              onChange={(e) => set('breakerCooldown', e.target.value)}
              placeholder="1m"
              aria-invalid={Boolean(err('breakerCooldown'))}
              aria-describedby="breakerCooldown-error"
            />
            <FieldError id="breakerCooldown-error" message={err('breakerCooldown')} />
          </div>
        </CardContent>
      </Card>

      <Card>
        <CardHeader>
          <CardTitle>Settings</CardTitle>
          <CardDescription>Validated by the integration&apos;s own schema.</CardDescription>
        </CardHeader>
        <CardContent className="grid gap-4 md:grid-cols-2">
          {Object.entries(settingsSchema).map(([key, prop]) => {
            const id = `setting-${key}`;
            const message = err(`settings.${key}`);
            return (
              <div key={key} className="grid gap-1.5">
                {prop.type === 'boolean' ? (
                  <label className="flex items-center gap-2 text-sm font-medium">
                    <input
                      type="checkbox"
                      id={id}
                      checked={Boolean(state.settings[key])}
                      disabled={disabled}
                      onChange={(e) => setState((s) => ({ ...s, settings: { ...s.settings, [key]: e.target.checked } }))}
                    />
                    {key}
                  </label>
                ) : (
                  <>
                    <Label htmlFor={id}>
                      {key}
                      {required.includes(key) ? '' : ' (optional)'}
                    </Label>
                    {prop.enum ? (
                      <Select
                        id={id}
                        value={String(state.settings[key] ?? '')}
                        disabled={disabled}
                        onChange={(e) => setState((s) => ({ ...s, settings: { ...s.settings, [key]: e.target.value } }))}
                      >
                        {prop.enum.map((v) => (
                          <option key={String(v)} value={String(v)}>
                            {String(v)}
                          </option>
                        ))}
                      </Select>
                    ) : (
                      <Input
                        id={id}
                        inputMode={prop.type === 'integer' || prop.type === 'number' ? 'numeric' : undefined}
                        value={String(state.settings[key] ?? '')}
                        disabled={disabled}
                        onChange={(e) => setState((s) => ({ ...s, settings: { ...s.settings, [key]: e.target.value } }))}
                        aria-invalid={Boolean(message)}
                        aria-describedby={`${id}-error`}
                      />
                    )}
                    {prop.minimum !== undefined || prop.maximum !== undefined ? (
                      <span className="text-xs text-muted-foreground">
                        {prop.minimum !== undefined ? `from ${prop.minimum}` : ''} {prop.maximum !== undefined ? `to ${prop.maximum}` : ''}
                      </span>
                    ) : null}
                  </>
                )}
                <FieldError id={`${id}-error`} message={message} />
              </div>
            );
          })}
        </CardContent>
      </Card>

      <Card>
        <CardHeader>
          <CardTitle>Alert routing</CardTitle>
          <CardDescription>Where this integration&apos;s alerts go: every enabled channel, or the ones you pick.</CardDescription>
        </CardHeader>
        <CardContent className="flex flex-col gap-2 text-sm">
          <label className="flex items-center gap-2">
            <input type="radio" name="routing" checked={state.routeAll} disabled={disabled} onChange={() => set('routeAll', true)} /> Every
            enabled channel
          </label>
          <label className="flex items-center gap-2">
            <input type="radio" name="routing" checked={!state.routeAll} disabled={disabled} onChange={() => set('routeAll', false)} /> Only
            these channels
          </label>
          {!state.routeAll ? (
            <div className="ml-6 flex flex-col gap-1">
              {channels.length === 0 ? <span className="text-muted-foreground">No channels yet: add one on the Alerts page.</span> : null}
              {channels.map((c) => (
                <label key={c.id} className="flex items-center gap-2">
                  <input
                    type="checkbox"
                    disabled={disabled}
                    checked={state.channelIds.includes(c.id)}
                    onChange={(e) =>
                      set('channelIds', e.target.checked ? [...state.channelIds, c.id] : state.channelIds.filter((id) => id !== c.id))
                    }
                  />
                  {c.name}{' '}
                  <span className="text-xs text-muted-foreground">
                    ({c.type}
                    {c.enabled ? '' : ', disabled'})
                  </span>
                </label>
              ))}
            </div>
          ) : null}
          <FieldError id="alertRouting-error" message={err('alertRouting')} />
        </CardContent>
      </Card>

      {canEdit ? (
        <div className="flex items-center justify-end gap-2">
          <span className="text-sm text-muted-foreground">
            {diff.length ? `${diff.length} unsaved change${diff.length === 1 ? '' : 's'}` : 'No changes'}
          </span>
          <Button
            type="button"
            variant="ghost"
            disabled={diff.length === 0 || pending}
            onClick={() => {
              setState(toState(base, settingsSchema));
              setErrors({});
              setFormError(null);
            }}
          >
            Discard
          </Button>
          <Button type="submit" disabled={diff.length === 0 || pending}>
            Review changes
          </Button>
        </div>
      ) : (
        <p className="text-sm text-muted-foreground">Only admins can change the configuration.</p>
      )}

      <Dialog open={reviewing} onOpenChange={setReviewing}>
        <DialogContent>
          <DialogHeader>
            <DialogTitle>Save these changes?</DialogTitle>
            <DialogDescription>Each changed field becomes one audit record with the old and new value.</DialogDescription>
          </DialogHeader>
          <ul className="flex flex-col gap-2 text-sm" data-testid="config-diff">
            {diff.map((d) => (
              <li key={d.field} className="rounded-md border p-2">
                <div className="font-medium">{d.field}</div>
                <div className="flex flex-wrap items-center gap-1 text-xs">
                  <code className="rounded bg-destructive/8 px-1 text-destructive line-through">{d.from}</code> →{' '}
                  <code className="rounded bg-success/10 px-1 text-[oklch(0.40_0.12_150)]">{d.to}</code>
                </div>
              </li>
            ))}
          </ul>
          <DialogFooter>
            <Button type="button" variant="outline" onClick={() => setReviewing(false)}>
              Keep editing
            </Button>
            <Button type="button" disabled={pending} onClick={save}>
              {pending ? 'Saving…' : `Save ${diff.length} change${diff.length === 1 ? '' : 's'}`}
            </Button>
          </DialogFooter>
        </DialogContent>
      </Dialog>
    </form>
  );
}
