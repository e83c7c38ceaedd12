import { z } from 'zod';
import { fail, json, methodNotAllowed, notFound, parseAdminPayload, readJson, type Reply, type SandboxRequest } from './http';
import { streamFor } from './random';

/**
 * The CRM's stand-in: contacts, seeded deterministically from the seed, read with keyset
 * pagination over (updated_at, id). `updated_since` is inclusive; the opaque cursor carries the
 * filter and the last (updated_at, id) seen, so a walk is stable under concurrent updates: a
 * contact changed during the walk moves to the end (it may be seen again, never skipped).
 *
 * Authentication: none by default; with the `apiKey` option set, every request needs the header
 * `X-Api-Key: <key>` (401 `invalid_api_key` otherwise).
 */

export const DEFAULT_CONTACT_COUNT = 250;
export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 200;

export interface Contact {
  id: string;
  name: string;
  email: string | null;
  country: string;
  currency: string;
  updated_at: string;
}

export interface ContactPage {
  data: Contact[];
  next_cursor: string | null;
}

const COMPANIES = [
  'Globex',
  'Initech',
  'Umbrella',
  'Hooli',
  'Stark',
  'Wayne',
  'Acme',
  'Soylent',
  'Cyberdyne',
  'Tyrell',
  'Wonka',
  'Vandelay',
  'Aperture',
  'Nakatomi',
  'Oceanic',
  'Gringotts',
  'Monarch',
  'Dunder',
  'Prestige',
  'Sirius',
];
const TRADES = ['Trading', 'Systems', 'Logistics', 'Foods', 'Energy', 'Labs', 'Media', 'Works', 'Textiles', 'Robotics'];
const COUNTRIES: { country: string; currency: string; form: string }[] = [
  { country: 'DE', currency: 'EUR', form: 'GmbH' },
  { country: 'FR', currency: 'EUR', form: 'SARL' },
  { country: 'NL', currency: 'EUR', form: 'BV' },
  { country: 'GB', currency: 'GBP', form: 'Ltd' },
  { country: 'US', currency: 'USD', form: 'Inc' },
  { country: 'SE', currency: 'SEK', form: 'AB' },
  { country: 'CH', currency: 'CHF', form: 'AG' },
  { country: 'JP', currency: 'JPY', form: 'KK' },
];
/** Seeded contacts were last changed during the first 120 days of 2026, at 6-hour marks (so some share a timestamp). */
const SEED_EPOCH = Date.UTC(2026, 0, 1);

export function contactId(n: number): string {
  return `crm-${String(n).padStart(4, '0')}`;
}

/** The seeded contacts: the same list for the same seed and count. */
export function seedContacts(seed: number, count = DEFAULT_CONTACT_COUNT): Contact[] {
  const random = streamFor(seed, 'crm-contacts');
  const pick = <T>(list: readonly T[]) => list[Math.floor(random() * list.length)];
  return Array.from({ length: count }, (_, i) => {
    const company = pick(COMPANIES);
    const trade = pick(TRADES);
    const place = pick(COUNTRIES);
    const slug = `${company}-${trade}`.toLowerCase();
    const updatedAt = SEED_EPOCH + Math.floor(random() * 120) * 86_400_000 + Math.floor(random() * 4) * 21_600_000;
    return {
      id: contactId(i + 1),
      name: `${company} ${trade} ${place.form}`,
      email: random() < 0.1 ? null : `billing@${slug}.${place.country.toLowerCase()}.example`,
      country: place.country,
      currency: place.currency,
      updated_at: new Date(updatedAt).toISOString(),
    };
  });
}

const ZContactFields = {
  name: z.string().trim().min(1, 'must not be empty').max(200, 'must be at most 200 characters'),
  email: z.email('must be an e-mail address').max(254).nullable(),
  country: z.string().regex(/^[A-Z]{2}$/, 'must be a 2-letter ISO 3166 country code in capitals, e.g. DE'),
  currency: z.string().regex(/^[A-Z]{3}$/, 'must be a 3-letter ISO 4217 currency code in capitals, e.g. EUR'),
};

export const ZNewContact = z.strictObject({
  id: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1-64 letters, digits, - or _')
    .optional(),
  ...ZContactFields,
  email: ZContactFields.email.default(null),
  /**
   * For tests of equal timestamps (a CRM with coarse updated_at): the contact's updated_at, not in
   * the future and not before the latest change. Default: now, strictly after every earlier change.
   */
  updated_at: z.iso.datetime({ message: 'must be an ISO 8601 date-time in UTC, e.g. 2026-11-30T10:00:00.000Z' }).optional(),
});

export const ZContactPatch = z
  .strictObject({
    name: ZContactFields.name.optional(),
    email: ZContactFields.email.optional(),
    country: ZContactFields.country.optional(),
    currency: ZContactFields.currency.optional(),
  })
  .refine((p) => Object.keys(p).length > 0, { message: 'must change at least one of name, email, country, currency' });

interface CursorState {
  /** updated_since of the walk (inclusive), null for all contacts. */
  s: string | null;
  /** (updated_at, id) of the last contact returned. */
  u: string;
  i: string;
}

function encodeCursor(state: CursorState): string {
  return Buffer.from(JSON.stringify(state)).toString('base64url');
}

function decodeCursor(text: string): CursorState {
  try {
    const value = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as CursorState;
    if (typeof value.u === 'string' && typeof value.i === 'string' && (value.s === null || typeof value.s === 'string')) return value;
  } catch {
    // fall through to the refusal below
  }
  return fail(
    400,
    'invalid_cursor',
    'cursor is not one this API issued: pass next_cursor from the previous page unchanged, or omit it to start over',
  );
}

function after(a: Contact, u: string, i: string): boolean {
  return a.updated_at > u || (a.updated_at === u && a.id > i);
}

function byUpdatedThenId(a: Contact, b: Contact): number {
  return a.updated_at < b.updated_at ? -1 : a.updated_at > b.updated_at ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

export class ContactStore {
  readonly #contacts = new Map<string, Contact>();
  #lastChange = 0;
  #nextNumber: number;

  constructor(
    seed: number,
    count = DEFAULT_CONTACT_COUNT,
    private readonly now: () => number = Date.now,
    /** How far ahead of `now` changes are stamped (the `clockAheadSeconds` fault); 0 = the true clock. */
    private readonly clockAheadMs: () => number = () => 0,
  ) {
    for (const contact of seedContacts(seed, count)) this.#remember(contact);
    this.#nextNumber = count + 1;
  }

  #remember(contact: Contact, changedAt = Date.parse(contact.updated_at)) {
    this.#contacts.set(contact.id, contact);
    this.#lastChange = Math.max(this.#lastChange, changedAt);
  }

  /**
   * A change time strictly after every earlier change, so a walk's order reflects the order of
   * changes; `stamp` is what updated_at shows: the same, or ahead of it while the clock-ahead fault
   * is set. A skewed stamp does not count as a change time: the next change (on the true clock) can
   * be stamped before it, even on the same contact.
   */
  #changeTime(): { at: number; stamp: string } {
    const at = Math.max(this.now(), this.#lastChange + 1);
    this.#lastChange = at;
    return { at, stamp: new Date(at + this.clockAheadMs()).toISOString() };
  }

  get size(): number {
    return this.#contacts.size;
  }

  get(id: string): Contact | undefined {
    const c = this.#contacts.get(id);
    return c && { ...c };
  }

  /** Every contact in (updated_at, id) order. */
  list(): Contact[] {
    return [...this.#contacts.values()].sort(byUpdatedThenId).map((c) => ({ ...c }));
  }

  create(input: unknown): Contact {
    const fields = parseAdminPayload(ZNewContact, input, 'contact');
    let id = fields.id;
    if (id === undefined) {
      while (this.#contacts.has(contactId(this.#nextNumber))) this.#nextNumber++;
      id = contactId(this.#nextNumber++);
    } else if (this.#contacts.has(id)) {
      fail(409, 'conflict', `Contact '${id}' already exists; PATCH /_admin/crm/contacts/${id} changes it`);
    }
    let updatedAt: string;
    let changedAt: number;
    if (fields.updated_at !== undefined) {
      const at = Date.parse(fields.updated_at);
      if (at > this.now()) fail(400, 'invalid_request', `updated_at ${fields.updated_at} is in the future`);
      // Equal to the latest change is allowed (ties); earlier would let a walk that passed it skip the contact.
      if (at < this.#lastChange)
        fail(
          400,
          'invalid_request',
          `updated_at ${fields.updated_at} is before the latest change (${new Date(this.#lastChange).toISOString()}): a walk may already have passed it`,
        );
      updatedAt = new Date(at).toISOString();
      changedAt = at;
    } else {
      ({ at: changedAt, stamp: updatedAt } = this.#changeTime());
    }
    const contact: Contact = {
      id,
      name: fields.name,
      email: fields.email,
      country: fields.country,
      currency: fields.currency,
      updated_at: updatedAt,
    };
    this.#remember(contact, changedAt);
    return { ...contact };
  }

  /** Changes some fields and moves updated_at to now (later than any earlier change, unless the clock-ahead fault stamped that one). */
  update(id: string, patch: unknown): Contact {
    const existing = this.#contacts.get(id);
    if (!existing) fail(404, 'not_found', `No contact '${id}'; GET /crm/v1/contacts lists them`);
    const fields = parseAdminPayload(ZContactPatch, patch, 'contact change');
    const { at, stamp } = this.#changeTime();
    const contact: Contact = { ...existing, ...fields, updated_at: stamp };
    this.#remember(contact, at);
    return { ...contact };
  }

  /** One page of contacts changed at or after `updatedSince`, continuing after `cursor`. */
  page(params: { updatedSince?: string | null; cursor?: string | null; limit?: number }): ContactPage {
    const limit = params.limit ?? DEFAULT_PAGE_SIZE;
    const position = params.cursor ? decodeCursor(params.cursor) : null;
    const since = position ? position.s : (params.updatedSince ?? null);
    const matching: Contact[] = [];
    for (const c of this.#contacts.values()) {
      if (since !== null && c.updated_at < since) continue;
      if (position && !after(c, position.u, position.i)) continue;
      matching.push(c);
    }
    matching.sort(byUpdatedThenId);
    const data = matching.slice(0, limit).map((c) => ({ ...c }));
    const last = data[data.length - 1];
    return { data, next_cursor: matching.length > limit ? encodeCursor({ s: since, u: last.updated_at, i: last.id }) : null };
  }
}

function parseUpdatedSince(value: string | null): string | null {
  if (value === null || value === '') return null;
  const ms = /^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(value) ? Date.parse(value) : Number.NaN;
  if (Number.isNaN(ms))
    fail(400, 'invalid_request', `updated_since must be an ISO 8601 date-time such as 2026-11-01T00:00:00Z (got '${value}')`);
  return new Date(ms).toISOString();
}

/** The `unparseableUpdatedAt` fault: which contacts the API shows with an updated_at that is not a date-time, and how. */
export interface UnparseableUpdatedAt {
  ids: string[];
  as: 'garbage' | 'missing' | 'null';
}

/** A contact as the API shows it under the `unparseableUpdatedAt` fault (unchanged without it). */
function shown(contact: Contact, fault: UnparseableUpdatedAt | undefined): object {
  if (!fault?.ids.includes(contact.id)) return contact;
  const { updated_at: _, ...rest } = contact;
  if (fault.as === 'missing') return rest;
  return { ...rest, updated_at: fault.as === 'null' ? null : 'last Tuesday-ish' };
}

/** `/crm/v1/...`. */
export function handleCrm(
  req: SandboxRequest,
  deps: { contacts: ContactStore; apiKey?: string; unparseableUpdatedAt?: () => UnparseableUpdatedAt | undefined },
): Reply {
  const [, version, resource, id, ...rest] = req.segments;
  if (version !== 'v1' || resource !== 'contacts' || rest.length > 0) notFound(req);
  if (deps.apiKey !== undefined && req.headers['x-api-key'] !== deps.apiKey) {
    fail(
      401,
      'invalid_api_key',
      req.headers['x-api-key'] ? 'The X-Api-Key header holds an unknown key' : 'The CRM API needs an X-Api-Key header',
    );
  }
  if (req.method !== 'GET') methodNotAllowed(req, ['GET']);
  if (id !== undefined) {
    const contact = deps.contacts.get(id);
    if (!contact) fail(404, 'not_found', `No contact '${id}'`);
    return json(200, shown(contact, deps.unparseableUpdatedAt?.()));
  }
  const limitText = req.query.get('limit');
  const limit = limitText === null || limitText === '' ? DEFAULT_PAGE_SIZE : Number(limitText);
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE_SIZE) {
    fail(400, 'invalid_request', `limit must be a whole number from 1 to ${MAX_PAGE_SIZE} (got '${limitText}')`);
  }
  const page = deps.contacts.page({
    updatedSince: parseUpdatedSince(req.query.get('updated_since')),
    cursor: req.query.get('cursor') || null,
    limit,
  });
  const fault = deps.unparseableUpdatedAt?.();
  return json(200, fault ? { ...page, data: page.data.map((c) => shown(c, fault)) } : page);
}

/** `/_admin/crm/contacts[/<id>]`: add or change contacts so a sync has something to pick up. */
export function handleCrmAdmin(req: SandboxRequest, deps: { contacts: ContactStore }): Reply {
  const [, , resource, id, ...rest] = req.segments;
  if (resource !== 'contacts' || rest.length > 0) notFound(req);
  if (id === undefined) {
    if (req.method === 'GET') return json(200, { data: deps.contacts.list(), count: deps.contacts.size });
    if (req.method === 'POST') return json(201, deps.contacts.create(readJson(req)));
    return methodNotAllowed(req, ['GET', 'POST']);
  }
  if (req.method === 'PATCH') return json(200, deps.contacts.update(id, readJson(req)));
  return methodNotAllowed(req, ['PATCH']);
}
