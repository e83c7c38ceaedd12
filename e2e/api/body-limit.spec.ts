import { db } from '../db';
import { expect, signIn, test } from '../fixtures';

/**
 * The JSON API reads at most 1 MB of a request body, counted in bytes (as the OpenAPI document and
 * the 413's message say), not in characters: a larger one is a 413 and starts nothing.
 */

test('a body over 1 MB of UTF-8 is a 413, though it has fewer than a million characters, and changes nothing', async ({
  page,
  baseURL,
}) => {
  await signIn(page, 'oscar');
  const request = page.context().request;
  const runs = async () => (await db()<{ n: number }[]>`select count(*)::int as n from runs`)[0].n;
  const before = await runs();

  // 400 000 characters, 1.2 MB of UTF-8: over the limit, though shorter than 1 000 000 characters.
  const multibyte = await request.post('/api/integrations/crm-sync/runs', {
    data: JSON.stringify({ dryRun: true, reason: '€'.repeat(400_000) }),
    headers: { Origin: baseURL!, 'Content-Type': 'application/json' },
  });
  expect(multibyte.status()).toBe(413);
  expect(await multibyte.json()).toEqual({ error: 'Request body is larger than 1 MB.' });

  expect(await runs(), 'the refused bodies started nothing').toBe(before);
});
