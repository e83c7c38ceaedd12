import { randomUUID } from 'node:crypto';
import { expect, signIn, test } from '../fixtures';
import { callServerAction, serverActions } from '../server-actions';

/**
 * A server action posted from another site with the operator's cookie (a CSRF attempt): the proxy
 * answers 403 with the reason before Next's own origin check, which would answer a bare 500.
 */

const NO_RUN = randomUUID();

test('a server action posted from another site is refused with a 403 that says why, and runs nothing', async ({ page, baseURL }) => {
  await signIn(page, 'oscar');
  const request = page.context().request;
  const retry = serverActions({ name: 'crm-sync', id: NO_RUN }).find((a) => a.name === 'retryRunAction')!;

  for (const origin of ['http://evil.com', 'null', 'http://localhost:1']) {
    const call = await callServerAction(request, origin, retry, [{ runId: NO_RUN, reason: 'csrf' }]);
    expect(call.status, origin).toBe(403);
    expect((JSON.parse(call.text) as { error: string }).error, origin).toMatch(/^Cross-site server action refused: it comes from /);
  }

  // The same call from the console's own origin reaches the action: its typed answer, not a refusal.
  const own = await callServerAction(request, baseURL!, retry, [{ runId: NO_RUN, reason: 'same origin' }]);
  expect(own.status).toBe(200);
  expect(own.result).toMatchObject({ ok: false });
});
