// Admin API calls as a test makes them: real requests with the admin token.
import { ADMIN_TOKEN, call } from "./api.js";

export function admin(method: string, path: string, body?: unknown): Promise<Response> {
  const headers: Record<string, string> = { authorization: `Bearer ${ADMIN_TOKEN}` };
  if (body !== undefined) headers["content-type"] = "application/json";
  return call(`/admin${path}`, { method, headers, body: body === undefined ? null : JSON.stringify(body) });
}
