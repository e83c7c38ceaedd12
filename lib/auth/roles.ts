import type { Role } from '../../db/schema';

export const ROLES: readonly Role[] = ['viewer', 'operator', 'admin'];

const RANK: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };

/** Viewer reads; operator also runs, retries, pauses and resets breakers; admin also edits. */
export function hasRole(actual: Role, required: Role): boolean {
  return RANK[actual] >= RANK[required];
}

/**
 * The role a user gets on first sign-in: the highest role any of its IdP claim values maps to,
 * viewer when none does.
 */
export function roleFromClaims(claimValue: unknown, roleMap: ReadonlyMap<string, Role>): Role {
  const values = Array.isArray(claimValue) ? claimValue : claimValue == null ? [] : [claimValue];
  let best: Role = 'viewer';
  for (const value of values) {
    const role = roleMap.get(String(value));
    if (role && RANK[role] > RANK[best]) best = role;
  }
  return best;
}
