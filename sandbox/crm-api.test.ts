import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedContacts, type Contact, type ContactPage } from './crm-api';
import { startStandIns, type StandIns } from './stand-ins';

let sandbox: StandIns;
let keyed: StandIns;

beforeAll(async () => {
  sandbox = await startStandIns({ port: 0, smtpPort: 0, seed: 7, faults: {} });
  keyed = await startStandIns({ port: 0, smtpPort: 0, seed: 7, faults: {}, crmApiKey: 'crm-test-key', contactCount: 5 });
});

afterAll(async () => {
  await Promise.all([sandbox.close(), keyed.close()]);
});

async function page(base: string, params: Record<string, string | number | undefined>): Promise<ContactPage> {
  const query = new URLSearchParams(
    Object.entries(params)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => [k, String(v)]),
  );
  const res = await fetch(`${base}/crm/v1/contacts?${query}`);
  expect(res.status).toBe(200);
  return (await res.json()) as ContactPage;
}

/** Follows next_cursor to the end; `between` runs after each page (to change data mid-walk). */
async function walk(
  base: string,
  params: { updated_since?: string; limit: number },
  between?: (pageNo: number) => Promise<void>,
): Promise<Contact[]> {
  const seen: Contact[] = [];
  let cursor: string | undefined;
  let pageNo = 0;
  do {
    const p = await page(base, { ...params, cursor });
    expect(p.data.length).toBeLessThanOrEqual(params.limit);
    seen.push(...p.data);
    cursor = p.next_cursor ?? undefined;
    pageNo++;
    if (between) await between(pageNo);
  } while (cursor);
  return seen;
}

describe('CRM contacts', () => {
  it('seeds the same 250 contacts for the same seed, different ones for another seed', () => {
    const a = seedContacts(7);
    expect(a).toHaveLength(250);
    expect(seedContacts(7)).toEqual(a);
    expect(seedContacts(8)).not.toEqual(a);
    expect(a[0].id).toBe('crm-0001');
    for (const c of a) {
      expect(c.country).toMatch(/^[A-Z]{2}$/);
      expect(c.currency).toMatch(/^[A-Z]{3}$/);
      expect(Number.isNaN(Date.parse(c.updated_at))).toBe(false);
    }
    // Several contacts share a timestamp, so the id tie-break is exercised.
    expect(new Set(a.map((c) => c.updated_at)).size).toBeLessThan(a.length);
  });

  it('walks every contact exactly once in (updated_at, id) order across pages', async () => {
    const seen = await walk(sandbox.url, { limit: 37 });
    expect(seen).toHaveLength(250);
    expect(new Set(seen.map((c) => c.id)).size).toBe(250);
    const keys = seen.map((c) => `${c.updated_at}|${c.id}`);
    expect([...keys].sort()).toEqual(keys);
  });

  it('walks exactly the contacts changed at or after updated_since, each once', async () => {
    const all = sandbox.state.contacts.list();
    const since = all[120].updated_at;
    const expected = all.filter((c) => c.updated_at >= since).map((c) => c.id);
    const seen = await walk(sandbox.url, { updated_since: since, limit: 10 });
    expect(seen.map((c) => c.id)).toEqual(expected);
    expect(new Set(seen.map((c) => c.id)).size).toBe(seen.length);
  });

  it('skips no contact when contacts change during a walk; changed ones come again at the end with their new data', async () => {
    const local = await startStandIns({ port: 0, smtpPort: 0, seed: 3, faults: {}, contactCount: 100 });
    try {
      const before = local.state.contacts.list();
      const changed = [before[5].id, before[60].id, before[99].id];
      const seen = await walk(local.url, { limit: 20 }, async (pageNo) => {
        if (pageNo !== 2) return;
        for (const id of changed) {
          const res = await fetch(`${local.url}/_admin/crm/contacts/${id}`, {
            method: 'PATCH',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ name: `Renamed ${id}` }),
          });
          expect(res.status).toBe(200);
        }
      });
      const ids = new Set(seen.map((c) => c.id));
      for (const c of before) expect(ids.has(c.id)).toBe(true);
      // before[5] was already seen on page 1: it comes again, renamed; the others only once, renamed.
      expect(seen.filter((c) => c.id === before[5].id).map((c) => c.name)).toEqual([before[5].name, `Renamed ${before[5].id}`]);
      expect(seen.filter((c) => c.id === before[60].id).map((c) => c.name)).toEqual([`Renamed ${before[60].id}`]);
      expect(seen.slice(-3).map((c) => c.id)).toEqual(changed);
    } finally {
      await local.close();
    }
  });

  it('picks up contacts added and changed through the admin endpoints with updated_since = the newest seen', async () => {
    const local = await startStandIns({ port: 0, smtpPort: 0, seed: 5, faults: {}, contactCount: 30 });
    try {
      const first = await walk(local.url, { limit: 200 });
      const newest = first[first.length - 1].updated_at;
      const created = await fetch(`${local.url}/_admin/crm/contacts`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'Fresh Start AB', email: 'ap@fresh.example', country: 'SE', currency: 'SEK' }),
      });
      expect(created.status).toBe(201);
      const contact = (await created.json()) as Contact;
      expect(contact.id).toBe('crm-0031');
      const patched = await fetch(`${local.url}/_admin/crm/contacts/crm-0002`, {
        method: 'PATCH',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ currency: 'USD' }),
      });
      expect(((await patched.json()) as Contact).currency).toBe('USD');
      const next = await walk(local.url, { updated_since: newest, limit: 200 });
      // Inclusive: the newest contact of the last walk comes again, then the two changes in order.
      expect(next.map((c) => c.id)).toEqual([first[first.length - 1].id, 'crm-0031', 'crm-0002']);
    } finally {
      await local.close();
    }
  });

  it('refuses a bad limit, updated_since or cursor with 400 naming the parameter', async () => {
    for (const [query, word] of [
      ['limit=0', 'limit'],
      ['limit=201', 'limit'],
      ['updated_since=yesterday', 'updated_since'],
      ['cursor=not-a-cursor', 'cursor'],
    ]) {
      const res = await fetch(`${sandbox.url}/crm/v1/contacts?${query}`);
      expect(res.status, query).toBe(400);
      expect(((await res.json()) as { message: string }).message).toContain(word);
    }
  });

  it('refuses invalid admin changes with 400 naming the field, unknown contacts with 404', async () => {
    const bad = await fetch(`${sandbox.url}/_admin/crm/contacts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'X', email: null, country: 'Germany', currency: 'EUR' }),
    });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { message: string }).message).toMatch(/country must be a 2-letter/);
    const empty = await fetch(`${sandbox.url}/_admin/crm/contacts/crm-0001`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(empty.status).toBe(400);
    const missing = await fetch(`${sandbox.url}/_admin/crm/contacts/crm-9999`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json' },
      body: '{"name":"Y"}',
    });
    expect(missing.status).toBe(404);
  });

  it('creates contacts sharing one updated_at when asked (ties), never one in the future or before the latest change', async () => {
    const post = (body: unknown) =>
      fetch(`${sandbox.url}/_admin/crm/contacts`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const tie = new Date().toISOString();
    const a = (await (await post({ name: 'Tie A', email: null, country: 'DE', currency: 'EUR', updated_at: tie })).json()) as Contact;
    const b = (await (await post({ name: 'Tie B', email: null, country: 'DE', currency: 'EUR', updated_at: tie })).json()) as Contact;
    expect([a.updated_at, b.updated_at]).toEqual([tie, tie]);
    const future = await post({
      name: 'F',
      email: null,
      country: 'DE',
      currency: 'EUR',
      updated_at: new Date(Date.now() + 60_000).toISOString(),
    });
    expect(future.status).toBe(400);
    expect(((await future.json()) as { message: string }).message).toMatch(/is in the future/);
    const past = await post({ name: 'P', email: null, country: 'DE', currency: 'EUR', updated_at: '2020-01-01T00:00:00.000Z' });
    expect(past.status).toBe(400);
    expect(((await past.json()) as { message: string }).message).toMatch(/is before the latest change/);
  });

  it('stamps changes ahead of its clock while clockAheadSeconds is set, and on its clock again once cleared', async () => {
    const crm = await startStandIns({ port: 0, smtpPort: 0, seed: 7, faults: { crm: { clockAheadSeconds: 3600 } }, contactCount: 3 });
    try {
      const admin = (method: string, path: string, body: unknown) =>
        fetch(`${crm.url}/_admin/crm/contacts${path}`, {
          method,
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
      const ahead = (await (await admin('POST', '', { name: 'Ahead', email: null, country: 'DE', currency: 'EUR' })).json()) as Contact;
      expect(Date.parse(ahead.updated_at)).toBeGreaterThan(Date.now() + 3_500_000);
      // The Date header keeps the true clock.
      const res = await fetch(`${crm.url}/crm/v1/contacts`);
      expect(Math.abs(Date.parse(res.headers.get('date')!) - Date.now())).toBeLessThan(60_000);
      await fetch(`${crm.url}/_admin/faults/crm`, { method: 'DELETE' });
      const next = (await (await admin('PATCH', `/${ahead.id}`, { name: 'On Time' })).json()) as Contact;
      expect(next.updated_at < ahead.updated_at).toBe(true);
      expect((await page(crm.url, { limit: 10 })).data.at(-1)).toMatchObject({ id: ahead.id, name: 'On Time' });
    } finally {
      await crm.close();
    }
  });

  it('runs its whole clock behind while clockBehindSeconds is set: its Date header and its stamps', async () => {
    const crm = await startStandIns({ port: 0, smtpPort: 0, seed: 7, faults: { crm: { clockBehindSeconds: 3600 } }, contactCount: 3 });
    try {
      const hourAgo = () => Date.now() - 3_600_000;
      const res = await fetch(`${crm.url}/crm/v1/contacts`);
      expect(Math.abs(Date.parse(res.headers.get('date')!) - hourAgo())).toBeLessThan(60_000);
      const created = (await (
        await fetch(`${crm.url}/_admin/crm/contacts`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ name: 'Slow', email: null, country: 'DE', currency: 'EUR' }),
        })
      ).json()) as Contact;
      expect(Math.abs(Date.parse(created.updated_at) - hourAgo())).toBeLessThan(60_000);
      await fetch(`${crm.url}/_admin/faults/crm`, { method: 'DELETE' });
      const after = await fetch(`${crm.url}/crm/v1/contacts`);
      expect(Math.abs(Date.parse(after.headers.get('date')!) - Date.now())).toBeLessThan(60_000);
    } finally {
      await crm.close();
    }
  });

  it('shows the contacts named by unparseableUpdatedAt with a broken updated_at, in their place in the order', async () => {
    const crm = await startStandIns({ port: 0, smtpPort: 0, seed: 7, faults: {}, contactCount: 4 });
    try {
      const ids = (await page(crm.url, { limit: 10 })).data.map((c) => c.id);
      for (const [as, expected] of [
        ['garbage', (v: unknown) => typeof v === 'string' && Number.isNaN(Date.parse(v))],
        ['missing', (v: unknown) => v === undefined],
        ['null', (v: unknown) => v === null],
      ] as const) {
        await fetch(`${crm.url}/_admin/faults/crm`, {
          method: 'PUT',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ unparseableUpdatedAt: { ids: [ids[1]], as } }),
        });
        const data = (await page(crm.url, { limit: 10 })).data;
        expect(data.map((c) => c.id)).toEqual(ids);
        expect(expected(data[1].updated_at)).toBe(true);
        expect(Number.isNaN(Date.parse(data[2].updated_at))).toBe(false);
        const one = (await (await fetch(`${crm.url}/crm/v1/contacts/${ids[1]}`)).json()) as Contact;
        expect(expected(one.updated_at)).toBe(true);
      }
    } finally {
      await crm.close();
    }
  });

  it('requires X-Api-Key when the sandbox is given a CRM API key', async () => {
    expect((await fetch(`${keyed.url}/crm/v1/contacts`)).status).toBe(401);
    expect((await fetch(`${keyed.url}/crm/v1/contacts`, { headers: { 'x-api-key': 'wrong' } })).status).toBe(401);
    const ok = await fetch(`${keyed.url}/crm/v1/contacts`, { headers: { 'x-api-key': 'crm-test-key' } });
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as ContactPage).data).toHaveLength(5);
    const one = await fetch(`${keyed.url}/crm/v1/contacts/crm-0003`, { headers: { 'x-api-key': 'crm-test-key' } });
    expect(((await one.json()) as Contact).id).toBe('crm-0003');
  });
});
