import { useRouter } from 'next/navigation';
import { useMemo, useState, useTransition } from 'react';
import { toast } from 'sonner';
import { checkConfigAction, saveConfigAction } from '@/app/(console)/integrations/[name]/config/actions';
import {
  buildPatch,
  diffRows,
  markedFieldCount,
  rebaseState,
  toState,
  type ConfigFormInitial,
  type FormState,
  type JsonSchemaProperty,
  type LatestConfig,
  type Rebased,
} from './config-draft';

/**
 * The config form's state and its save flow: the draft against what it is compared with and saved
 * against (`base`: the loaded configuration, or after a stale refusal and a reload the one saved
 * meanwhile, with the draft re-applied on top), field errors, the stale refusal, the review dialog.
 */
export function useConfigDraft(initial: ConfigFormInitial, settingsSchema: Record<string, JsonSchemaProperty>) {
  const router = useRouter();
  const [base, setBase] = useState<ConfigFormInitial>(initial);
  const [state, setState] = useState<FormState>(() => toState(initial, settingsSchema));
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [stale, setStale] = useState<{ message: string; latest: LatestConfig | null } | null>(null);
  const [rebased, setRebased] = useState<Rebased | null>(null);
  const [formError, setFormError] = useState<string | null>(null);
  const [reviewing, setReviewing] = useState(false);
  // Saved and waiting for the refresh that brings the new version: nothing is unsaved meanwhile.
  const [saved, setSaved] = useState(false);
  const [pending, start] = useTransition();
  // Apart from the save's: the Review button stays enabled (and focused) while its check runs.
  const [checking, startCheck] = useTransition();
  const patch = useMemo(() => buildPatch(state, base, settingsSchema), [state, base, settingsSchema]);
  const diff = useMemo(() => diffRows(patch, base), [patch, base]);

  /** A refusal's message is about the value refused: editing that field takes it away (it stood under the new value). */
  const clearError = (key: string) =>
    setErrors((e) => {
      const kept = Object.entries(e).filter(([k]) => k !== key && !k.startsWith(`${key}.`));
      return kept.length === Object.keys(e).length ? e : Object.fromEntries(kept);
    });
  const set = <K extends keyof FormState>(key: K, value: FormState[K]) => {
    setSaved(false);
    clearError(key);
    setState((s) => ({ ...s, [key]: value }));
  };
  const setSetting = (key: string, value: string | boolean) => {
    setSaved(false);
    clearError(`settings.${key}`);
    setState((s) => ({ ...s, settings: { ...s.settings, [key]: value } }));
  };
  /** A field's message, or the first message of a field below it (`settings.x` for `settings`). */
  const err = (key: string) => errors[key] ?? Object.entries(errors).find(([k]) => k.startsWith(`${key}.`))?.[1];

  /**
   * Review: the save's own checks first, so every field it would refuse is marked before any dialog
   * offers to save; a clean draft opens the review.
   */
  const review = () =>
    !checking &&
    startCheck(async () => {
      const result = await checkConfigAction({ integration: base.integration, expectedVersion: base.version, patch });
      if (result.ok) {
        setErrors({});
        setFormError(null);
        setReviewing(true);
      } else if (result.status === 409) {
        const latest = (result.details?.latest ?? null) as LatestConfig | null;
        setStale({ message: result.error, latest });
      } else {
        const fields = markedFieldCount(result.fieldErrors ?? {});
        setErrors(result.fieldErrors ?? {});
        setFormError(
          fields > 0
            ? `Nothing saved: ${fields === 1 ? 'one field needs' : `${fields} fields need`} a fix first, marked below.`
            : result.error,
        );
      }
    });

  const save = () =>
    start(async () => {
      const result = await saveConfigAction({ integration: base.integration, expectedVersion: base.version, patch });
      setReviewing(false);
      if (result.ok) {
        setSaved(true);
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

  /** Back to `base`: every field as last loaded (after a reload, as the other person saved it). */
  const discard = () => {
    setState(toState(base, settingsSchema));
    setErrors({});
    setFormError(null);
  };

  /** After a reload: drops the re-applied draft and keeps their configuration. */
  const discardMine = () => {
    setState(toState(base, settingsSchema));
    setRebased(null);
  };

  return {
    base,
    state,
    /** Edits not saved yet: leaving the page asks first (UnsavedChangesGuard). */
    unsaved: diff.length > 0 && !saved,
    set,
    setSetting,
    err,
    diff,
    stale,
    rebased,
    formError,
    reviewing,
    setReviewing,
    review,
    checking,
    pending,
    save,
    reloadKeepingDraft,
    discard,
    discardMine,
  };
}

export type ConfigDraft = ReturnType<typeof useConfigDraft>;
