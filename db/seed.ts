import { eq } from 'drizzle-orm';
import type { Database } from './client';
import { generateHostData } from './host-data';
import { appMeta } from './schema';

const SEED_MARKER = 'demo_seeded';

/**
 * Seeds the demo once per database (a marker row makes later starts skip it): the host platform's
 * customers and invoices that the shipped integrations move around.
 * Returns true when it seeded now.
 */
export async function seedDemo(db: Database): Promise<boolean> {
  return db.transaction(async (tx) => {
    const inserted = await tx.insert(appMeta).values({ key: SEED_MARKER, value: { at: new Date().toISOString() } }).onConflictDoNothing().returning();
    if (inserted.length === 0) return false;
    await generateHostData(tx, { customers: 24, invoices: 300, seed: 7, spreadDays: 14 });
    await tx.update(appMeta).set({ value: { at: new Date().toISOString(), invoices: 300 } }).where(eq(appMeta.key, SEED_MARKER));
    return true;
  });
}
