import { timestamp } from 'drizzle-orm/pg-core';

/** Shared column builders of every table. */
export const createdAt = () => timestamp('created_at', { withTimezone: true }).notNull().defaultNow();
export const tstz = (name: string) => timestamp(name, { withTimezone: true });
