import 'server-only';
import { cache } from 'react';
import { listInventory, type InventoryRow } from '../platform/read-models/inventory';
import { getDb } from './db';

/**
 * Per-request reads shared by a layout and its page, wrapped in React `cache()` so one request
 * runs each query once (the integration layout and its overview page both need the inventory
 * row). Web-only: lib/platform stays framework-free.
 */

/** The inventory (optionally searched), once per request. */
export const getInventory = cache((search?: string) => listInventory(getDb(), { search }));

/** One integration's inventory row, or null, once per request. */
export const getInventoryRow = cache(async (name: string): Promise<InventoryRow | null> => {
  const [row] = await listInventory(getDb(), { name });
  return row ?? null;
});
