'use client';

import { RelativeTime } from '@/components/common/relative-time';
import { StaleRefusal } from '@/components/common/stale-merge-panel';
import { UnsavedChangesGuard } from '@/components/common/unsaved-changes';
import { Button } from '@/components/ui/button';
import type { ConfigFormInitial, JsonSchemaProperty } from './config-draft';
import { RebasedPanel, ReviewDialog } from './config-review';
import { RetriesSection } from './retries-section';
import { RoutingSection, type ChannelChoice } from './routing-section';
import { ScheduleSection } from './schedule-section';
import { SettingsSection } from './settings-section';
import { useConfigDraft } from './use-config-draft';

export type { ConfigFormInitial, JsonSchemaProperty } from './config-draft';

/**
 * The config editor: a form from the integration's settings schema plus schedule (in words, next 5
 * runs), time zone, retries and breaker; a diff of what will change before saving; a stale edit says
 * who changed it and offers a reload that keeps the draft on top of their change.
 */
export function ConfigForm({
  initial,
  settingsSchema,
  required,
  canEdit,
  readOnlyNote = 'Only admins can change the configuration.',
  channels,
}: {
  initial: ConfigFormInitial;
  settingsSchema: Record<string, JsonSchemaProperty>;
  required: string[];
  canEdit: boolean;
  /** Why the form cannot be saved, when canEdit is false: the role, unless the page knows another reason. */
  readOnlyNote?: string;
  channels: ChannelChoice[];
}) {
  const draft = useConfigDraft(initial, settingsSchema);
  const { base, diff, stale, rebased, formError, pending } = draft;
  const section = { state: draft.state, set: draft.set, err: draft.err, disabled: !canEdit };

  return (
    <form
      className="flex flex-col gap-4"
      data-needs-js
      onSubmit={(e) => {
        e.preventDefault();
        draft.review();
      }}
      noValidate
    >
      <UnsavedChangesGuard dirty={canEdit && draft.unsaved} what={`the configuration of ${base.integration}`} />
      {/* The version the draft is saved against: after a reload, the one saved meanwhile. */}
      <p className="text-sm text-muted-foreground" data-testid="config-version">
        Version {base.version}, last changed <RelativeTime value={base.updatedAt} /> by {base.updatedBy}.
      </p>
      {stale ? (
        <StaleRefusal
          message={stale.message}
          latest={stale.latest}
          kept="Your changes are still in the form."
          reloadLabel="Reload, keeping my changes"
          onReload={draft.reloadKeepingDraft}
        />
      ) : null}
      {rebased ? <RebasedPanel rebased={rebased} canSave={diff.length > 0 && !pending} onDiscardMine={draft.discardMine} /> : null}
      {formError ? (
        <p role="alert" className="rounded-md bg-destructive/10 p-3 text-sm text-destructive">
          {formError}
        </p>
      ) : null}
      <ScheduleSection {...section} />
      <RetriesSection {...section} />
      <SettingsSection {...section} setSetting={draft.setSetting} settingsSchema={settingsSchema} required={required} />
      <RoutingSection {...section} channels={channels} />

      {canEdit ? (
        <div className="flex items-center justify-end gap-2">
          <span className="text-sm text-muted-foreground">
            {diff.length ? `${diff.length} unsaved change${diff.length === 1 ? '' : 's'}` : 'No changes'}
          </span>
          <Button type="button" variant="ghost" disabled={diff.length === 0 || pending} onClick={draft.discard}>
            Discard
          </Button>
          <Button type="submit" disabled={diff.length === 0 || pending} aria-busy={draft.checking}>
            {draft.checking ? 'Checking…' : 'Review changes'}
          </Button>
        </div>
      ) : (
        <p className="text-sm text-muted-foreground">{readOnlyNote}</p>
      )}

      <ReviewDialog open={draft.reviewing} onOpenChange={draft.setReviewing} diff={diff} pending={pending} onSave={draft.save} />
    </form>
  );
}
