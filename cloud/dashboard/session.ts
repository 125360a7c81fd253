// Dashboard sessions: a signed, HttpOnly, SameSite=Strict cookie naming who signed in (the
// platform operator, or one tenant's admin through one of its API keys), a random session id, a
// per-session CSRF token and an expiry. The signing key is derived from ADMIN_TOKEN, so rotating
// the token ends every session. Signing out records the session id as ended in D1
// (ended_dashboard_sessions) until its expiry, and every request checks that record, so a copy of
// the cookie kept after sign-out is refused. A tenant session is re-checked against D1 on every
// request too: revoking its key or suspending the tenant takes effect on the next click. While
// ADMIN_TOKEN is unset or too short no session can be signed, so no one signs in at all.
import { sameSecret } from "../../src/core/security/same-secret.js";
import type { Context } from "hono";
import { deleteCookie, getSignedCookie, setSignedCookie } from "hono/cookie";
import { z } from "zod";
import { problem, type Problem } from "../../src/core/http/problem.js";
import { adminTokenUsable, weakAdminTokenProblem } from "../../src/core/security/admin-token.js";
import { apiKeyId, sha256Hex } from "../../src/core/security/api-key.js";

const COOKIE = "factline_session";
const LIFETIME_MS = 8 * 60 * 60 * 1000;

const sessionSchema = z.discriminatedUnion("role", [
  z.object({ role: z.literal("operator"), id: z.string().min(16), csrf: z.string().min(16), expires: z.number() }),
  z.object({
    role: z.literal("tenant"),
    tenant: z.string().min(1),
    keyId: z.string().min(1),
    id: z.string().min(16),
    csrf: z.string().min(16),
    expires: z.number(),
  }),
]);

export type Session = z.infer<typeof sessionSchema>;
export type Principal =
  | { readonly role: "operator" }
  | { readonly role: "tenant"; readonly tenant: string; readonly keyId: string };

type DashboardContext<E extends { Bindings: Env }> = Context<E>;

async function signingKey(env: Env): Promise<ArrayBuffer> {
  const key = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(env.ADMIN_TOKEN),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  return crypto.subtle.sign("HMAC", key, new TextEncoder().encode("factline dashboard session v1"));
}

/**
 * Why no dashboard session can be signed or trusted now (500 `config-invalid`, naming the setting,
 * never the token): the signing key derives from ADMIN_TOKEN, so while it is unset or shorter
 * than MIN_ADMIN_TOKEN_LENGTH no one signs in, the operator or a tenant's admin. Undefined when
 * the token is usable.
 */
export function sessionSigningProblem(env: Env): Problem | undefined {
  if (adminTokenUsable(env.ADMIN_TOKEN)) return undefined;
  return (
    weakAdminTokenProblem(env.ADMIN_TOKEN) ??
    problem(
      "config-invalid",
      "ADMIN_TOKEN is not set: the dashboard signs its sessions with it, so no one can sign in until it is set",
    )
  );
}

function randomToken(): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(24)), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Who a sign-in secret belongs to: the ADMIN_TOKEN, or a live API key of an active tenant. */
export async function authenticate(env: Env, secret: string): Promise<Principal | null> {
  const trimmed = secret.trim();
  if (trimmed.length === 0 || trimmed.length > 512) return null;
  if (adminTokenUsable(env.ADMIN_TOKEN) && (await sameSecret(trimmed, env.ADMIN_TOKEN))) return { role: "operator" };
  const keyId = apiKeyId(trimmed);
  if (!keyId) return null;
  const row = await keyRecord(env.DB, keyId);
  if (!row || row.revokedAt !== null || row.status !== "active") return null;
  if (!(await sameSecret(await sha256Hex(trimmed), row.hash))) return null;
  return { role: "tenant", tenant: row.tenant, keyId };
}

export async function startSession<E extends { Bindings: Env }>(c: DashboardContext<E>, who: Principal): Promise<void> {
  const session: Session = { ...who, id: randomToken(), csrf: randomToken(), expires: Date.now() + LIFETIME_MS };
  await setSignedCookie(c, COOKIE, btoa(JSON.stringify(session)), await signingKey(c.env), {
    httpOnly: true,
    sameSite: "Strict",
    secure: new URL(c.req.url).protocol === "https:",
    path: "/dashboard",
    maxAge: LIFETIME_MS / 1000,
  });
}

/**
 * Ends `session`: its id is recorded as ended until it would have expired (so no copy of its
 * cookie is accepted again), ended sessions past their expiry are purged, and the cookie is cleared.
 */
export async function endSession<E extends { Bindings: Env }>(c: DashboardContext<E>, session: Session): Promise<void> {
  await c.env.DB.batch([
    c.env.DB.prepare("INSERT OR IGNORE INTO ended_dashboard_sessions (id, expires_at) VALUES (?, ?)").bind(
      session.id,
      session.expires,
    ),
    c.env.DB.prepare("DELETE FROM ended_dashboard_sessions WHERE expires_at < ?").bind(Date.now()),
  ]);
  deleteCookie(c, COOKIE, { path: "/dashboard" });
}

/** The request's valid session, or null (no cookie, bad signature, expired, signed out, key revoked, tenant suspended). */
export async function currentSession<E extends { Bindings: Env }>(c: DashboardContext<E>): Promise<Session | null> {
  const read = await readSession(c);
  return typeof read === "string" ? null : read;
}

/**
 * The request's valid session, or why it has none: `tenant-suspended` for a tenant admin's session
 * while its tenant is suspended (the same cookie works again once it is resumed), `none` otherwise
 * (no cookie, bad signature, expired, signed out, or key revoked).
 */
export async function readSession<E extends { Bindings: Env }>(
  c: DashboardContext<E>,
): Promise<Session | "none" | "tenant-suspended"> {
  // The signing key derives from the token: a short one would make every session's signature guessable.
  if (sessionSigningProblem(c.env) !== undefined) return "none";
  const raw = await getSignedCookie(c, await signingKey(c.env), COOKIE);
  if (!raw) return "none";
  let decoded: unknown;
  try {
    decoded = JSON.parse(atob(raw));
  } catch {
    return "none";
  }
  const parsed = sessionSchema.safeParse(decoded);
  if (!parsed.success || parsed.data.expires < Date.now()) return "none";
  const session = parsed.data;
  const ended = await c.env.DB.prepare("SELECT 1 AS ended FROM ended_dashboard_sessions WHERE id = ?")
    .bind(session.id)
    .first();
  if (ended !== null) return "none";
  if (session.role === "tenant") {
    const row = await keyRecord(c.env.DB, session.keyId);
    if (!row || row.revokedAt !== null || row.tenant !== session.tenant) return "none";
    if (row.status !== "active") return "tenant-suspended";
  }
  return session;
}

function keyRecord(db: D1Database, keyId: string) {
  return db
    .prepare(
      `SELECT k.tenant_id AS tenant, k.key_hash AS hash, k.revoked_at AS revokedAt, t.status AS status
         FROM api_keys k JOIN tenants t ON t.id = k.tenant_id WHERE k.id = ?`,
    )
    .bind(keyId)
    .first<{ tenant: string; hash: string; revokedAt: number | null; status: string }>();
}
