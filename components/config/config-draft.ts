/**
 * The config form's draft, without React: the form state from a configuration, the patch it means
 * (only what differs from what was loaded), the rows of the review, and the draft re-applied on
 * top of a configuration someone else saved meanwhile.
 */

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
  /** Who saved this version and when (ISO): the form's "Version N" line. */
  updatedBy: string;
  updatedAt: string;
  schedule: string | null;
  timezone: string;
  retryDelays: string[];
  breakerFailures: number;
  breakerCooldown: string;
  retryBudget: number | null;
  /** The attempt time limit, a duration string ('1h'). */
  attemptTimeout: string;
  resumePolicy: 'skip' | 'run_once';
  settings: Record<string, unknown>;
  alertRouting: { channelIds: string[] | 'all' };
}

/** One changed field as the form shows it: the review dialog, the stale-merge panel. */
export interface ChangeRow {
  field: string;
  from: string;
  to: string;
}

/** What the inputs hold: text as typed, converted back by buildPatch. */
export interface FormState {
  schedule: string;
  timezone: string;
  retryDelays: string;
  breakerFailures: string;
  breakerCooldown: string;
  retryBudget: string;
  attemptTimeout: string;
  resumePolicy: 'skip' | 'run_once';
  settings: Record<string, string | boolean>;
  routeAll: boolean;
  channelIds: string[];
}

export function toState(initial: ConfigFormInitial, schema: Record<string, JsonSchemaProperty>): FormState {
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
    attemptTimeout: initial.attemptTimeout,
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
export function buildPatch(state: FormState, initial: ConfigFormInitial, schema: Record<string, JsonSchemaProperty>) {
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
  // Sent as typed (an emptied field too): the server refuses what is not a limit, naming the range.
  if (state.attemptTimeout.trim() !== initial.attemptTimeout) patch.attemptTimeout = state.attemptTimeout.trim();
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

export function diffRows(patch: Record<string, unknown>, initial: ConfigFormInitial): ChangeRow[] {
  const rows: ChangeRow[] = [];
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
export type LatestConfig = Omit<ConfigFormInitial, 'integration'>;

/**
 * The draft re-applied on top of someone else's saved change: every field the admin changed
 * (compared with what they loaded) keeps their value, every other field takes the saved one.
 */
export function rebaseState(draft: FormState, loaded: FormState, latest: FormState): FormState {
  const mine = <T>(a: T, b: T) => JSON.stringify(a) !== JSON.stringify(b);
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
    attemptTimeout: pick('attemptTimeout'),
    resumePolicy: pick('resumePolicy'),
    settings,
    routeAll: routingMine ? draft.routeAll : latest.routeAll,
    channelIds: routingMine ? draft.channelIds : latest.channelIds,
  };
}

/** After a stale refusal and a reload: who saved meanwhile, their change and the draft re-applied. */
export interface Rebased {
  by: string;
  at: string;
  theirs: ChangeRow[];
  mine: ChangeRow[];
}

/**
 * How many of the form's fields the errors mark: one per input, so two refused retry delays
 * (`retryDelays.0`, `retryDelays.1`) are one field ("3 fields need a fix" marked only two).
 */
export function markedFieldCount(errors: Record<string, string>): number {
  return new Set(
    Object.keys(errors).map((key) =>
      key
        .split('.')
        .slice(0, key.startsWith('settings.') ? 2 : 1)
        .join('.'),
    ),
  ).size;
}
