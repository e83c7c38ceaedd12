/**
 * The paces, in runs per minute per integration, the console offers for a bulk retry: when it is
 * started (Retry selected) and while its runs are held (its card). 5 is the platform's default.
 */
export const BULK_PACE_PRESETS = [1, 5, 20, 60];
export const DEFAULT_BULK_PACE_PER_MINUTE = 5;
