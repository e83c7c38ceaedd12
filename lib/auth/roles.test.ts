import { describe, expect, it } from 'vitest';
import { parseRoleMap } from '../env';
import { hasRole, roleFromClaims } from './roles';

describe('roles', () => {
  it('orders viewer < operator < admin', () => {
    expect(hasRole('admin', 'operator')).toBe(true);
    expect(hasRole('operator', 'operator')).toBe(true);
    expect(hasRole('viewer', 'operator')).toBe(false);
    expect(hasRole('operator', 'admin')).toBe(false);
  });

  it('maps IdP group claims to the highest role and defaults to viewer', () => {
    const map = parseRoleMap('junction-admins=admin,junction-operators=operator');
    expect(roleFromClaims(['junction-operators', 'junction-admins'], map)).toBe('admin');
    expect(roleFromClaims('junction-operators', map)).toBe('operator');
    expect(roleFromClaims(['sales'], map)).toBe('viewer');
    expect(roleFromClaims(undefined, map)).toBe('viewer');
  });
});
