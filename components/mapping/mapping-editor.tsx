'use client';

import { useQuery } from '@tanstack/react-query';
import { useRouter } from 'next/navigation';
import { useEffect, useRef, useState, useTransition } from 'react';
import { toast } from 'sonner';
import { previewMappingAction } from '@/app/(console)/integrations/[name]/mapping/actions';
import { RelativeTime } from '@/components/common/relative-time';
import { StaleMergePanel, StaleRefusal } from '@/components/common/stale-merge-panel';
import { UnsavedChangesGuard } from '@/components/common/unsaved-changes';
import { useDebounced } from '@/components/common/use-debounced';
import { Button } from '@/components/ui/button';
import { Input } from '@/components/ui/input';
import { Select } from '@/components/ui/select';
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from '@/components/ui/table';
import { describeMappingChange, rebaseMapping } from '@/lib/platform/mapping/diff';
import { targetProblems } from '@/lib/platform/mapping/targets';
import { FIELD_TYPES } from '@/lib/platform/mapping/types';
import type { ActionResult } from '@/lib/server/action';

export interface EditorField {
  target: string;
  expression: string;
  type: string;
  required: boolean;
}

export interface EditorMapping {
  fields: EditorField[];
  filter?: string | null;
  key?: string;
}

interface LatestMapping {
  version: number;
  updatedBy: string;
  updatedAt: string;
  mapping: EditorMapping | null;
}

function Sentences({ items, empty, testId }: { items: string[]; empty: string; testId: string }) {
  if (items.length === 0) return <p className="text-muted-foreground">{empty}</p>;
  return (
    <ul className="mt-1 flex list-disc flex-col gap-1 pl-4" data-testid={testId}>
      {items.map((item, i) => (
        <li key={i}>
          {item.split(/`([^`]*)`/).map((piece, k) =>
            k % 2 === 1 ? (
              <code key={k} className="rounded bg-muted px-1 break-all">
                {piece}
              </code>
            ) : (
              piece
            ),
          )}
        </li>
      ))}
    </ul>
  );
}

/**
 * Rows of target, JSONata expression, type and required; live preview on sample records as the
 * admin types; saving is refused while an expression does not compile.
 */
export function MappingEditor({
  integration,
  initial,
  version,
  canEdit,
  save,
}: {
  integration: string;
  initial: EditorMapping;
  version: number;
  canEdit: boolean;
  save: (input: {
    integration: string;
    expectedVersion: number;
    mapping: EditorMapping;
  }) => Promise<ActionResult<{ version: number; changed: string[] }>>;
}) {
  const router = useRouter();
  // What the draft is compared with and saved against: the loaded mapping, or after a stale
  // refusal the one saved meanwhile, with the draft re-applied on top.
  const [base, setBase] = useState<{ mapping: EditorMapping; version: number }>({ mapping: initial, version });
  const [mapping, setMapping] = useState<EditorMapping>(initial);
  const [saving, startSaving] = useTransition();
  const [saveError, setSaveError] = useState<string | null>(null);
  const [stale, setStale] = useState<{ message: string; latest: LatestMapping | null } | null>(null);
  const [rebased, setRebased] = useState<{
    by: string;
    at: string;
    theirs: string[];
    mine: string[];
    conflicts: string[];
    theirMapping: EditorMapping;
  } | null>(null);
  const debounced = useDebounced(mapping, 300);
  const preview = useQuery({
    queryKey: ['mapping-preview', integration, JSON.stringify(debounced)],
    enabled: canEdit,
    queryFn: async () => {
      const result = await previewMappingAction({ integration, mapping: debounced });
      if (!result.ok) throw new Error(result.error);
      return result.data;
    },
    placeholderData: (previous) => previous,
  });
  // Rows without a target, targets two rows write: found here as the admin types, in the words the
  // server's preview and save use (the same function), and marked on the rows. The preview's own
  // report of them (errors with `rows`) would repeat them, a keystroke late.
  const problems = targetProblems(mapping.fields);
  const problemsOf = (row: number) => problems.filter((p) => p.rows.includes(row));
  const compileErrors = (preview.data?.compileErrors ?? []).filter((e) => !e.rows);
  const errorCount = compileErrors.length + problems.length;
  /** A row's errors: the schema's name the row (its target may be odd or shared), JSONata's the target. */
  const errorsOf = (row: number, target: string) =>
    compileErrors.filter((e) => (e.row !== undefined ? e.row === row : e.field === target && e.field !== 'filter' && e.field !== 'key'));
  const errorFor = (target: string) => compileErrors.filter((e) => e.field === target);
  // The schema refused the mapping: no record is previewed until the marked fields are fixed.
  const refusedBySchema = compileErrors.filter((e) => e.row !== undefined);
  // Fields left out of every previewed record because their expression does not compile.
  const notPreviewed = [...new Set(compileErrors.map((e) => e.field))].filter((f) => mapping.fields.some((m) => m.target === f));
  const previewStale = JSON.stringify(debounced) !== JSON.stringify(mapping) || preview.isFetching;
  const dirty = JSON.stringify(mapping) !== JSON.stringify(base.mapping);
  // A mapping that maps none of the samples would move nothing: say so, and ask once more at save.
  const samples = preview.data?.results ?? [];
  const mappedCount = samples.filter((r) => !r.filtered && r.errors.length === 0).length;
  const rejectedCount = samples.filter((r) => !r.filtered && r.errors.length > 0).length;
  const mapsNothing = !previewStale && errorCount === 0 && samples.length > 0 && mappedCount === 0;
  const mapsNothingText =
    rejectedCount > 0
      ? `This mapping rejects every sample record (${rejectedCount} of ${samples.length}${rejectedCount < samples.length ? `; the filter skips the rest` : ''}): a run with it would send nothing and report each record as rejected. The preview below says why.`
      : `The filter skips every sample record (${samples.length} of ${samples.length}): a run with it would send nothing.`;
  const [confirmedFor, setConfirmedFor] = useState<string | null>(null);
  const confirming = mapsNothing && confirmedFor === JSON.stringify(mapping);

  // Rows are keyed by position, so after a move or a removal the focused button would be another
  // field's: Enter three times on "Move account up" moved it once and its neighbour back twice, and
  // a second Enter on Remove removed the next field. Focus follows the moved field; after a removal
  // it goes to the next field's target (no action on Enter), else to Add field.
  const rowsRef = useRef<HTMLTableSectionElement>(null);
  const addRef = useRef<HTMLButtonElement>(null);
  const [focusNext, setFocusNext] = useState<{ row: number; control: 'up' | 'down' | 'target' } | null>(null);
  useEffect(() => {
    if (!focusNext) return;
    const row = rowsRef.current?.querySelectorAll('tr')[focusNext.row];
    const find = (control: string) => row?.querySelector<HTMLElement>(`[data-control="${control}"]:not(:disabled)`);
    const other = focusNext.control === 'up' ? 'down' : focusNext.control === 'down' ? 'up' : 'target';
    (find(focusNext.control) ?? find(other) ?? addRef.current)?.focus();
    setFocusNext(null);
  }, [focusNext, mapping]);

  const update = (index: number, patch: Partial<EditorField>) =>
    setMapping((m) => ({ ...m, fields: m.fields.map((f, i) => (i === index ? { ...f, ...patch } : f)) }));
  const move = (index: number, by: number) =>
    setMapping((m) => {
      const fields = [...m.fields];
      const [field] = fields.splice(index, 1);
      fields.splice(index + by, 0, field);
      return { ...m, fields };
    });

  const onSave = () =>
    startSaving(async () => {
      setSaveError(null);
      const result = await save({ integration, expectedVersion: base.version, mapping });
      if (result.ok) {
        setRebased(null);
        // Saved: no longer a draft to warn about, also before the refresh brings the saved version.
        setBase({ mapping, version: result.data.version });
        toast.success(result.data.changed.length ? 'Mapping saved; the next run uses it' : 'Nothing changed');
        router.refresh();
      } else if (result.status === 409) {
        setStale({ message: result.error, latest: (result.details?.latest ?? null) as LatestMapping | null });
      } else {
        setSaveError(result.error);
      }
    });

  /** Keeps the draft: shows their change beside it and re-applies it on top of what they saved. */
  const reloadKeepingDraft = () => {
    const latest = stale?.latest;
    setStale(null);
    if (!latest?.mapping) {
      router.refresh();
      return;
    }
    const merged = rebaseMapping(base.mapping, mapping, latest.mapping);
    setRebased({
      by: latest.updatedBy,
      at: latest.updatedAt,
      theirs: describeMappingChange(base.mapping, latest.mapping),
      mine: describeMappingChange(base.mapping, mapping),
      conflicts: merged.conflicts,
      theirMapping: latest.mapping,
    });
    setBase({ mapping: latest.mapping, version: latest.version });
    setMapping(merged.mapping);
  };

  return (
    <div className="flex flex-col gap-4">
      <UnsavedChangesGuard dirty={canEdit && dirty} what={`the mapping of ${integration}`} />
      {stale ? (
        <StaleRefusal
          message={stale.message}
          latest={stale.latest}
          kept="Your draft is still here."
          reloadLabel="Reload, keeping my draft"
          onReload={reloadKeepingDraft}
        />
      ) : null}
      {rebased ? (
        <StaleMergePanel
          intro={
            <>
              <strong>{rebased.by}</strong> saved the mapping <RelativeTime value={rebased.at} />. The editor now holds their mapping with
              your draft re-applied on top; nothing is saved until you save.
            </>
          }
          theirs={<Sentences items={rebased.theirs} empty="Nothing in the fields." testId="their-change" />}
          mineTitle="Your draft, re-applied"
          mine={<Sentences items={rebased.mine} empty="None." testId="my-change" />}
          conflict={
            rebased.conflicts.length
              ? `You both changed ${rebased.conflicts.join(', ').replace(/`/g, '')}: the editor has your version. Check it before saving.`
              : null
          }
          actions={
            <div>
              <Button
                type="button"
                size="sm"
                variant="outline"
                onClick={() => {
                  setMapping(rebased.theirMapping);
                  setRebased(null);
                }}
              >
                Discard my draft, keep theirs
              </Button>
            </div>
          }
        />
      ) : null}
      <Table stacked>
        <TableHeader>
          <TableRow>
            <TableHead className="w-16">Order</TableHead>
            <TableHead>Target field</TableHead>
            <TableHead>JSONata expression</TableHead>
            <TableHead>Type</TableHead>
            <TableHead>Required</TableHead>
            {canEdit ? (
              <TableHead>
                <span className="sr-only">Actions</span>
              </TableHead>
            ) : null}
          </TableRow>
        </TableHeader>
        <TableBody ref={rowsRef}>
          {mapping.fields.map((f, i) => {
            const rowErrors = errorsOf(i, f.target);
            const errors = rowErrors.filter((e) => e.prop !== 'target');
            // A target the schema refused (its characters, __proto__) is marked on the target, like the rows' problems.
            const targetErrors = [...problemsOf(i), ...rowErrors.filter((e) => e.prop === 'target')];
            return (
              <TableRow key={i}>
                <TableCell data-label="Order">
                  {canEdit ? (
                    <div className="flex gap-1">
                      <Button
                        type="button"
                        size="sm"
                        variant="ghost"
                        aria-label={`Move ${f.target || `field ${i + 1}`} up`}
                        data-control="up"
                        disabled={i === 0}
                        onClick={() => {
                          move(i, -1);
                          setFocusNext({ row: i - 1, control: 'up' });
                        }}
                      >
                        ↑
                      </Button>
                      <Button
                        type="button"
                        size="sm"
                        variant="ghost"
                        aria-label={`Move ${f.target || `field ${i + 1}`} down`}
                        data-control="down"
                        disabled={i === mapping.fields.length - 1}
                        onClick={() => {
                          move(i, 1);
                          setFocusNext({ row: i + 1, control: 'down' });
                        }}
                      >
                        ↓
                      </Button>
                    </div>
                  ) : (
                    i + 1
                  )}
                </TableCell>
                <TableCell data-label="Target field">
                  <Input
                    aria-label={`Target of field ${i + 1}`}
                    data-control="target"
                    value={f.target}
                    disabled={!canEdit}
                    aria-invalid={targetErrors.length > 0}
                    aria-describedby={targetErrors.length > 0 ? `mapping-target-error-${i}` : undefined}
                    onChange={(e) => update(i, { target: e.target.value })}
                    className="w-40 font-mono text-xs"
                  />
                  {targetErrors.length > 0 ? (
                    <p id={`mapping-target-error-${i}`} className="mt-1 w-40 text-xs text-destructive">
                      {targetErrors.map((p) => `${p.message}.`).join(' ')}
                    </p>
                  ) : null}
                </TableCell>
                <TableCell className="min-w-64" data-label="Expression">
                  <Input
                    aria-label={`Expression for ${f.target || `field ${i + 1}`}`}
                    value={f.expression}
                    disabled={!canEdit}
                    aria-invalid={errors.length > 0}
                    onChange={(e) => update(i, { expression: e.target.value })}
                    className="font-mono text-xs"
                  />
                  {errors.map((e, k) => (
                    <p key={k} role="alert" className="mt-1 text-xs text-destructive">
                      {e.position ? `At position ${e.position}: ` : ''}
                      {e.message}
                    </p>
                  ))}
                </TableCell>
                <TableCell data-label="Type">
                  <Select
                    aria-label={`Type of ${f.target || `field ${i + 1}`}`}
                    value={f.type}
                    disabled={!canEdit}
                    onChange={(e) => update(i, { type: e.target.value })}
                  >
                    {FIELD_TYPES.map((t) => (
                      <option key={t} value={t}>
                        {t}
                      </option>
                    ))}
                  </Select>
                </TableCell>
                <TableCell data-label="Required">
                  <input
                    type="checkbox"
                    aria-label={`${f.target || `field ${i + 1}`} is required`}
                    checked={f.required}
                    disabled={!canEdit}
                    onChange={(e) => update(i, { required: e.target.checked })}
                  />
                </TableCell>
                {canEdit ? (
                  <TableCell data-label="Actions">
                    <Button
                      type="button"
                      size="sm"
                      variant="ghost"
                      aria-label={`Remove ${f.target || `field ${i + 1}`}`}
                      onClick={() => {
                        setMapping((m) => ({ ...m, fields: m.fields.filter((_, k) => k !== i) }));
                        setFocusNext({ row: i < mapping.fields.length - 1 ? i : i - 1, control: 'target' });
                      }}
                    >
                      Remove
                    </Button>
                  </TableCell>
                ) : null}
              </TableRow>
            );
          })}
        </TableBody>
      </Table>
      {canEdit ? (
        <div className="flex flex-wrap items-center gap-2">
          <Button
            ref={addRef}
            type="button"
            variant="outline"
            size="sm"
            onClick={() =>
              setMapping((m) => ({ ...m, fields: [...m.fields, { target: '', expression: '', type: 'string', required: false }] }))
            }
          >
            Add field
          </Button>
          <label className="flex items-center gap-2 text-sm">
            Filter
            <Input
              aria-label="Filter expression"
              placeholder="optional, e.g. status = 'posted'"
              value={mapping.filter ?? ''}
              onChange={(e) => setMapping((m) => ({ ...m, filter: e.target.value || null }))}
              className="w-64 font-mono text-xs"
            />
          </label>
          {errorFor('filter').map((e, k) => (
            <span key={k} className="text-xs text-destructive">
              {e.message}
            </span>
          ))}
          <div className="ml-auto flex items-center gap-2">
            {errorCount > 0 ? (
              <span className="text-sm text-destructive">
                Fix {errorCount} error{errorCount === 1 ? '' : 's'} before saving.
              </span>
            ) : null}
            <Button type="button" variant="ghost" disabled={!dirty || saving} onClick={() => setMapping(base.mapping)}>
              Discard changes
            </Button>
            {confirming ? (
              <>
                <Button type="button" variant="ghost" onClick={() => setConfirmedFor(null)}>
                  Keep editing
                </Button>
                <Button type="button" variant="destructive" disabled={saving} onClick={onSave}>
                  {saving ? 'Saving…' : 'Save anyway'}
                </Button>
              </>
            ) : (
              <Button
                type="button"
                disabled={!dirty || saving || previewStale || errorCount > 0}
                onClick={mapsNothing ? () => setConfirmedFor(JSON.stringify(mapping)) : onSave}
              >
                {saving ? 'Saving…' : 'Save mapping'}
              </Button>
            )}
          </div>
        </div>
      ) : null}
      {canEdit && mapsNothing ? (
        <p role="alert" data-testid="maps-nothing" className="rounded-md border border-warning bg-warning/10 p-3 text-sm">
          {mapsNothingText}
          {confirming ? ' Save it anyway?' : ''}
        </p>
      ) : null}
      {saveError ? (
        <p role="alert" className="rounded-md bg-destructive/10 p-3 text-sm text-destructive">
          {saveError}
        </p>
      ) : null}
      {canEdit ? (
        <section aria-label="Live preview" className="flex flex-col gap-2">
          <h2 className="flex items-center gap-2 text-lg font-semibold">
            Live preview {previewStale ? <span className="text-xs font-normal text-muted-foreground">updating…</span> : null}
          </h2>
          {preview.error ? <p className="text-sm text-destructive">{(preview.error as Error).message}</p> : null}
          {/* Instead of an empty preview: which output field cannot be written, and what to do. A
              status, not an alert: it changes with each key typed in a target. */}
          {problems.length > 0 ? (
            <div role="status" data-testid="preview-target-problems" className="rounded-md bg-destructive/10 p-3 text-sm text-destructive">
              <p>Nothing is previewed until every row writes a target field of its own:</p>
              <ul className="mt-1 list-disc pl-4">
                {problems.map((p, k) => (
                  <li key={k}>{p.message}.</li>
                ))}
              </ul>
            </div>
          ) : null}
          {problems.length === 0 && refusedBySchema.length > 0 ? (
            <div role="status" data-testid="preview-field-problems" className="rounded-md bg-destructive/10 p-3 text-sm text-destructive">
              <p>Nothing is previewed until the fields marked above are fixed:</p>
              <ul className="mt-1 list-disc pl-4">
                {refusedBySchema.map((e, k) => (
                  <li key={k}>
                    Row {e.row! + 1}: {e.message}.
                  </li>
                ))}
              </ul>
            </div>
          ) : null}
          {compileErrors.some((e) => e.field === 'filter') ? (
            <p role="status" className="rounded-md border border-warning bg-warning/10 p-2 text-sm">
              The filter is not applied in this preview: its expression has an error, marked above.
            </p>
          ) : null}
          {/* Why the preview is not the whole story: records left out, values shortened. */}
          {preview.data?.notice && problems.length === 0 ? (
            <p role="status" data-testid="preview-notice" className="rounded-md border border-warning bg-warning/10 p-2 text-sm">
              {preview.data.notice}.
            </p>
          ) : null}
          <div className="grid gap-3 lg:grid-cols-2">
            {(problems.length > 0 ? [] : samples).map((r) => (
              <div key={r.key} className="min-w-0 rounded-lg border bg-card p-3 text-xs" data-testid="preview-record">
                <div className="mb-1 flex items-center gap-2 font-medium">
                  Record <code>{r.key}</code>
                  {r.filtered ? (
                    <span className="text-muted-foreground">skipped by the filter</span>
                  ) : r.errors.length ? (
                    <span className="text-destructive">rejected</span>
                  ) : notPreviewed.length ? (
                    // Not "mapped": the fields whose expression does not compile are missing from it.
                    <span className="text-[oklch(0.47_0.12_70)]">partly mapped</span>
                  ) : (
                    <span className="text-[oklch(0.45_0.13_150)]">mapped</span>
                  )}
                </div>
                {!r.filtered && notPreviewed.length ? (
                  <p className="text-muted-foreground">
                    Not previewed: {notPreviewed.join(', ')} (the expression has an error, marked above)
                  </p>
                ) : null}
                {r.errors.map((e, k) => (
                  <p key={k} className="text-destructive">
                    {e.field}: {e.reason}
                  </p>
                ))}
                {r.output ? (
                  <pre tabIndex={0} className="mt-1 max-h-64 overflow-auto rounded bg-muted p-2">
                    {JSON.stringify(r.output, null, 2)}
                  </pre>
                ) : null}
              </div>
            ))}
          </div>
        </section>
      ) : null}
    </div>
  );
}
