import { test as base, expect, type Page } from '@playwright/test';
import { type DemoUsername, SignInPage } from './pages/sign-in-page';

export const ROLE_OF: Record<DemoUsername, string> = { ada: 'admin', oscar: 'operator', vera: 'viewer' };

/** Signs in through the real SSO flow and waits for the console. */
export async function signIn(page: Page, username: DemoUsername, path = '/') {
  const signInPage = new SignInPage(page);
  await signInPage.goto(path === '/' ? '/signin' : `/signin?callbackUrl=${encodeURIComponent(path)}`);
  await signInPage.signInAs(username);
  await expect(page.getByTestId('current-user')).toContainText(ROLE_OF[username]);
}

export const test = base;
export { expect };
