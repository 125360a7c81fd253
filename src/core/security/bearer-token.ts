// The one reading of `Authorization: Bearer <token>`, for tenant keys and the ADMIN_TOKEN alike, so
// the tenant API and the admin API accept and refuse the same spellings of a header.

/**
 * The token of a bearer `Authorization` header, or undefined when `authorization` is absent or not
 * one. The scheme is matched case-insensitively (RFC 9110 §11.1); the token is the run of
 * non-whitespace after it (RFC 6750 §2.1's b64token, leniently: any visible characters, which a
 * key lookup then refuses). Whitespace around the token is ignored, spaces or tabs: RFC 9110 §5.5
 * makes a field value's trailing whitespace no part of it, and a tab after the scheme, though
 * outside RFC 9110 §11.4's `1*SP`, is read as the space it stands for rather than as another key.
 */
export function bearerToken(authorization: string | null | undefined): string | undefined {
  return /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization ?? "")?.[1];
}
