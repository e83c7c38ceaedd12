import { expect, type Page } from '@playwright/test';

export type DemoUsername = 'ada' | 'oscar' | 'vera';

/** The console's sign-in page and the local identity provider's form behind it. */
export class SignInPage {
  constructor(private readonly page: Page) {}

  async goto(path = '/signin') {
    await this.page.goto(path);
  }

  async signInAs(username: DemoUsername, password = 'junction') {
    await this.page.getByRole('button', { name: 'Continue with SSO' }).click();
    await expect(this.page.getByRole('heading', { name: 'Junction local SSO' })).toBeVisible();
    await this.page.getByLabel('Username').fill(username);
    await this.page.getByLabel('Password').fill(password);
    await this.page.getByRole('button', { name: 'Sign in' }).click();
  }
}
