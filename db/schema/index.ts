/**
 * The database schema, one file per area; everything is re-exported here so `@/db/schema` is the
 * one import (drizzle.config.ts and db/client.ts read this file).
 */
export * from './auth';
export * from './governance';
export * from './runs';
export * from './operations';
export * from './alerts';
export * from './intake';
export * from './host';
