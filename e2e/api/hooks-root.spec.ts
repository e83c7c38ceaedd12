import { request as playwrightRequest } from '@playwright/test';
import { INTAKE_URL } from '../../playwright.config';
import { expect, test } from '../fixtures';

/**
 * `/hooks` with no integration named is no endpoint: the console answers the JSON 404 a sender can
 * read, as the intake listener does for the same path, not the console's HTML not-found page.
 */
test('/hooks without an integration is a JSON 404 on the console as on the intake listener', async ({ baseURL }) => {
  for (const base of [baseURL!, INTAKE_URL]) {
    const anonymous = await playwrightRequest.newContext({ baseURL: base });
    for (const method of ['POST', 'GET']) {
      const res = await anonymous.fetch('/hooks', { method, data: method === 'POST' ? '{}' : undefined, maxRedirects: 0 });
      expect(res.status(), `${method} ${base}/hooks`).toBe(404);
      expect(res.headers()['content-type'], `${method} ${base}/hooks`).toMatch(/^application\/json/);
      expect(((await res.json()) as { error: string }).error, `${method} ${base}/hooks`).toMatch(/POST \/hooks\/<integration>/);
    }
    await anonymous.dispose();
  }
});
