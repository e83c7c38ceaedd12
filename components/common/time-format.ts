/** Time in words and exact UTC for server and client components: the platform's one definition. */
export { exactTime, formatRelative } from '@/lib/platform/when';
