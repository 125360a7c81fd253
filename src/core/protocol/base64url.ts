// The URL- and filename-safe base64 alphabet without padding (RFC 4648 §5), for identifiers made
// of random or digested bytes (API key secrets, fitted idempotency keys).

/** `bytes` in base64url without `=` padding (RFC 4648 §5), e.g. 32 bytes → 43 characters. */
export function toBase64Url(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes))
    .replaceAll("+", "-")
    .replaceAll("/", "_")
    .replace(/=+$/, "");
}
