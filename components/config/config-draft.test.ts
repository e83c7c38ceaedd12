import { describe, expect, it } from 'vitest';
import {
  buildPatch,
  diffRows,
  markedFieldCount,
  rebaseState,
  toState,
  type ConfigFormInitial,
  type JsonSchemaProperty,
} from './config-draft';

const schema: Record<string, JsonSchemaProperty> = {
  pageSize: { type: 'integer', minimum: 1 },
  sandbox: { type: 'boolean' },
  region: { type: 'string', enum: ['eu', 'us'] },
};
const loaded: ConfigFormInitial = {
  integration: 'crm',
  version: 3,
  updatedBy: 'ada@example.com',
  updatedAt: '2026-11-30T12:00:00.000Z',
  schedule: '0 2 * * *',
  timezone: 'UTC',
  retryDelays: ['30s', '2m'],
  breakerFailures: 5,
  breakerCooldown: '1m',
  retryBudget: 0.2,
  attemptTimeout: '1h',
  resumePolicy: 'skip',
  settings: { pageSize: 50, sandbox: false, region: 'eu' },
  alertRouting: { channelIds: 'all' },
};

describe('the config draft', () => {
  it('means no change when nothing was edited', () => {
    expect(buildPatch(toState(loaded, schema), loaded, schema)).toEqual({});
  });

  it('patches only what changed, converted back from the text inputs', () => {
    const state = { ...toState(loaded, schema), retryDelays: '30s 5m', retryBudget: '', breakerFailures: 'x' };
    state.settings = { ...state.settings, pageSize: '100' };
    const patch = buildPatch(state, loaded, schema);
    expect(patch).toEqual({
      retryDelays: ['30s', '5m'],
      retryBudget: null,
      breakerFailures: 'x',
      settings: { pageSize: 100, sandbox: false, region: 'eu' },
    });
    expect(diffRows(patch, loaded)).toEqual([
      { field: 'retryDelays', from: '30s, 2m', to: '30s, 5m' },
      { field: 'breakerFailures', from: '5', to: 'x' },
      { field: 'retryBudget', from: '20%', to: '—' },
      { field: 'settings.pageSize', from: '50', to: '100' },
    ]);
  });

  it('patches the attempt time limit as typed (trimmed), an emptied one too, for the server to refuse', () => {
    const state = { ...toState(loaded, schema), attemptTimeout: ' 90m ' };
    expect(buildPatch(state, loaded, schema)).toEqual({ attemptTimeout: '90m' });
    expect(diffRows(buildPatch(state, loaded, schema), loaded)).toEqual([{ field: 'attemptTimeout', from: '1h', to: '90m' }]);
    expect(buildPatch({ ...state, attemptTimeout: '' }, loaded, schema)).toEqual({ attemptTimeout: '' });
    const theirs: ConfigFormInitial = { ...loaded, version: 4, attemptTimeout: '2h', breakerFailures: 6 };
    const merged = rebaseState({ ...state, attemptTimeout: '45s' }, toState(loaded, schema), toState(theirs, schema));
    expect(merged).toMatchObject({ attemptTimeout: '45s', breakerFailures: '6' });
    expect(rebaseState(toState(loaded, schema), toState(loaded, schema), toState(theirs, schema)).attemptTimeout).toBe('2h');
  });

  it('re-applies the draft on top of a configuration saved meanwhile: mine where I changed, theirs elsewhere', () => {
    const theirs: ConfigFormInitial = { ...loaded, version: 4, breakerFailures: 6, settings: { ...loaded.settings, region: 'us' } };
    const draft = { ...toState(loaded, schema), breakerCooldown: '3m' };
    draft.settings = { ...draft.settings, sandbox: true };
    const merged = rebaseState(draft, toState(loaded, schema), toState(theirs, schema));
    expect(merged).toMatchObject({ breakerCooldown: '3m', breakerFailures: '6' });
    expect(merged.settings).toEqual({ pageSize: '50', sandbox: true, region: 'us' });
    expect(buildPatch(merged, theirs, schema)).toEqual({
      breakerCooldown: '3m',
      settings: { pageSize: 50, sandbox: true, region: 'us' },
    });
  });
});

describe('markedFieldCount', () => {
  it('counts inputs, not errors: two refused delays are one field, each setting its own', () => {
    expect(
      markedFieldCount({
        'retryDelays.0': "'abc' is not a duration",
        'retryDelays.1': "'xyz' is not a duration",
        retryBudget: 'must be at most 100% of attempts (1 as a fraction)',
        'settings.baseUrl': 'must be a URL',
        'settings.pageSize': 'must be a number',
      }),
    ).toBe(4);
  });
});
