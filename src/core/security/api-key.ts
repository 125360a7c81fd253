// Tenant API keys: `fl_<keyId>_<secret>` with a 192-bit random secret (24 bytes). Only a SHA-256
// digest is ever stored; the key id lets the verifier find the record without scanning.
import { toBase64Url } from "../protocol/base64url.js";

export interface IssuedKey {
  readonly keyId: string;
  /** Shown once to whoever asked for it, never stored. */
  readonly apiKey: string;
  readonly hash: string;
}

const KEY_PATTERN = /^fl_([0-9a-f]{16})_([A-Za-z0-9_-]{22,64})$/;

export async function issueApiKey(): Promise<IssuedKey> {
  const keyId = toHex(crypto.getRandomValues(new Uint8Array(8)));
  const secret = toBase64Url(crypto.getRandomValues(new Uint8Array(24)));
  const apiKey = `fl_${keyId}_${secret}`;
  return { keyId, apiKey, hash: await sha256Hex(apiKey) };
}

/** The key id of a well-formed key, else undefined. */
export function apiKeyId(apiKey: string): string | undefined {
  return KEY_PATTERN.exec(apiKey)?.[1];
}

export async function sha256Hex(text: string): Promise<string> {
  return toHex(new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text))));
}

function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
