/**
 * Who is calling: what the authentication middleware puts on every request and what the
 * handlers authorise against. A user signs in with a password (access JWT); an integration
 * presents an API key, or an access JWT it exchanged one for.
 */

/** The roles of `UserRegistered` / `UserRoleChanged`, repeated here so platform stays leaf-level. */
export const roles = ['platform_admin', 'tenant_admin', 'tenant_user'] as const;
export type Role = (typeof roles)[number];

/** The event actor a request acts as: a command it sends is recorded with this. */
export type PrincipalActor = `user:${string}` | `apikey:${string}`;

export type Principal = {
  actor: PrincipalActor;
  /** Set when the actor is a user. */
  userId?: string;
  /** Set when the actor is an API key. */
  keyId?: string;
  /** Null only for platform admins, who belong to no tenant. */
  tenantId: string | null;
  role: Role;
  /**
   * What the caller may do, each listed explicitly: a principal holds a scope only when it is
   * in this list (no wildcards, nothing implied by the role).
   */
  scopes: string[];
  /** The sign-in session an access token belongs to (its `sid`), when it has one. */
  sessionId?: string;
};

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (roles as readonly string[]).includes(value);
}
