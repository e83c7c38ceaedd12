import { expect, type Page } from '@playwright/test';

export class RunsPage {
  constructor(private readonly page: Page) {}

  async goto(query = '') {
    await this.page.goto(`/runs${query ? `?${query}` : ''}`);
    await expect(this.page.getByRole('heading', { name: 'Runs', exact: true })).toBeVisible();
  }

  row(runId: string) {
    return this.page.getByTestId(`run-row-${runId}`);
  }

  async retry(runId: string) {
    await this.row(runId).getByRole('button', { name: 'Retry' }).click();
  }

  async select(runId: string) {
    await this.page.getByRole('checkbox', { name: `Select run ${runId.slice(0, 8)}` }).check();
  }

  async retrySelected(count: number) {
    await this.page.getByRole('button', { name: `Retry selected (${count})` }).click();
    await this.page.getByRole('button', { name: `Retry ${count} ${count === 1 ? 'run' : 'runs'}`, exact: true }).click();
  }
}
