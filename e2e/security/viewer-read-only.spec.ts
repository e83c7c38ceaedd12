import { readFileSync } from 'node:fs';
import path from 'node:path';
import { db } from '../db';
import { expect, seedFailedRuns, signIn, test } from '../fixtures';

interface ManifestEntry {
  workers: Record<string, unknown>;
  filename: string;
  exportedName: string;
}

/**
 * Every server action the build contains in an actions.ts file, but the read-only previews: the
 * console's mutations. The sign-out actions (session-actions.ts) end the caller's own sessions and
 * are every signed-in user's, viewers included (sessions.spec.ts and the authorization matrix).
 */
function mutatingActions(): { id: string; name: string; file: string; page: string }[] {
  const manifest = JSON.parse(
    readFileSync(path.join(import.meta.dirname, '..', '..', '.next', 'server', 'server-reference-manifest.json'), 'utf8'),
  ) as {
    node: Record<string, ManifestEntry>;
  };
  return Object.entries(manifest.node)
    .filter(
      ([, entry]) =>
        /actions\.ts$/.test(entry.filename) && !/session-actions\.ts$/.test(entry.filename) && !/^preview/.test(entry.exportedName),
    )
    .map(([id, entry]) => {
      const worker = Object.keys(entry.workers)[0];
      const page =
        `/${worker
          .replace(/^app\//, '')
          .replace(/\/page$/, '')
          .replace(/\([^)]+\)\/?/g, '')
          .replace('[name]', 'accounting-export')
          .replace('[id]', '00000000-0000-4000-8000-000000000000')}`.replace(/\/$/, '') || '/';
      return { id, name: entry.exportedName, file: entry.filename, page };
    });
}

test('a viewer sees no mutating controls', async ({ page }) => {
  const [failed] = await seedFailedRuns('crm-sync', 1, 'viewer test seed');
  await signIn(page, 'vera');
  await page.goto('/integrations/accounting-export');
  await expect(page.getByText('You can read everything here; running and pausing need the operator role.')).toBeVisible();
  for (const name of ['Run now', 'Dry-run', 'Pause', 'Resume', 'Reset breaker', 'Open breaker']) {
    await expect(page.getByRole('button', { name })).toHaveCount(0);
  }
  await page.goto('/runs?status=failed');
  await expect(page.getByTestId(`run-row-${failed}`)).toBeVisible();
  await expect(page.getByRole('button', { name: 'Retry' })).toHaveCount(0);
  await expect(page.getByRole('button', { name: /Retry selected/ })).toHaveCount(0);
  await page.goto('/alerts');
  await expect(page.getByRole('button', { name: 'Add channel' })).toHaveCount(0);
  await expect(page.getByRole('button', { name: 'Send test alert' })).toHaveCount(0);
  await expect(page.getByRole('link', { name: 'Users' })).toHaveCount(0);
});

test('every mutating server action posted directly as a viewer is refused and changes nothing', async ({ page, baseURL }) => {
  await signIn(page, 'vera');
  const actions = mutatingActions();
  expect(actions.length).toBeGreaterThanOrEqual(10);
  const before = await db()<{ runs: number; audit: number; channels: number; users: string }[]>`
    select (select count(*)::int from runs) as runs, (select count(*)::int from audit_log) as audit,
           (select count(*)::int from alert_channels) as channels, (select string_agg(role::text || disabled::text, ',' order by id) from users) as users`;
  const refused: string[] = [];
  for (const action of actions) {
    const res = await page.request.post(`${baseURL}${action.page}`, {
      headers: { 'Next-Action': action.id, 'Content-Type': 'text/plain;charset=UTF-8', Origin: baseURL!, Accept: 'text/x-component' },
      data: JSON.stringify([
        {
          integration: 'accounting-export',
          runId: '00000000-0000-4000-8000-000000000000',
          runIds: ['00000000-0000-4000-8000-000000000000'],
          key: 'accounting-api',
          userId: '00000000-0000-4000-8000-000000000000',
          role: 'admin',
          channelId: '00000000-0000-4000-8000-000000000000',
          input: { type: 'webhook', name: 'x', url: 'http://localhost/x' },
        },
      ]),
    });
    const body = await res.text();
    expect(body, `${action.file} ${action.name}`).toContain('"status":403');
    refused.push(`${action.file}#${action.name}`);
  }
  const after = await db()<typeof before>`
    select (select count(*)::int from runs) as runs, (select count(*)::int from audit_log) as audit,
           (select count(*)::int from alert_channels) as channels, (select string_agg(role::text || disabled::text, ',' order by id) from users) as users`;
  expect(after).toEqual(before);
  console.log(`refused as viewer: ${refused.length} actions\n  ${refused.join('\n  ')}`);
});
