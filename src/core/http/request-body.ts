// Reads a JSON request body within a byte limit without buffering more than the limit: a large
// body is refused once its declared length or the bytes read so far pass the limit (the rest of a
// chunked one is read and dropped first, bounded-body.ts).
import { readRequestBody } from "./bounded-body.js";
import { problem, type Problem } from "./problem.js";
import { describeStrictJsonError, strictJsonProblem } from "./strict-json.js";

export const MAX_BODY_BYTES = 64 * 1024;

/**
 * A body read whole: its value and the JSON text it was parsed from; `empty` when none was sent
 * (no body, or zero bytes, with no Content-Type or a JSON one), which reads as the value `{}` and
 * the text "{}": a command with no data needs no body.
 */
export type BodyResult =
  | { readonly ok: true; readonly value: unknown; readonly text: string; readonly empty: boolean }
  | { readonly ok: false; readonly problem: Problem };

const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;.*)?$/i;
// One decoder serves every request: a non-streaming decode() keeps no state between calls.
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

export async function readJsonBody(request: Request, limit = MAX_BODY_BYTES): Promise<BodyResult> {
  const read = await readRequestBody(request, limit);
  if (!read.ok) return read;
  const { bytes } = read;
  // A fresh object each time: the value is handed on to the route (json-body.ts), which owns it.
  const contentType = request.headers.get("content-type");
  const json = contentType !== null && JSON_TYPE.test(contentType);
  // No body needs no type; an empty one of another declared type is refused like a full one.
  if (bytes.byteLength === 0 && (contentType === null || json)) return { ok: true, value: {}, text: "{}", empty: true };
  if (contentType === null || !json) {
    return { ok: false, problem: problem("unsupported-media-type", "send the body as application/json") };
  }
  const unsupported = bodyEncodingProblem(contentType, request.headers.get("content-encoding"));
  if (unsupported) return { ok: false, problem: unsupported };
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    return { ok: false, problem: problem("malformed-request", "the body is not valid UTF-8") };
  }
  let value: unknown;
  try {
    value = JSON.parse(text) as unknown;
  } catch (error) {
    return {
      ok: false,
      problem: problem("malformed-request", `the body is not valid JSON: ${(error as Error).message}`),
    };
  }
  // Valid JSON that means two things, or that a later hop would change, is refused too.
  const ambiguous = strictJsonProblem(text);
  if (ambiguous) return { ok: false, problem: problem("malformed-request", describeStrictJsonError(ambiguous)) };
  return { ok: true, value, text, empty: false };
}

/**
 * A body whose bytes would mean something else than the UTF-8 JSON we decode is refused, not
 * guessed at (RFC 9110 §8.3.2, §8.4, §15.5.16): a `charset` other than utf-8 in `contentType`, or
 * any content coding (`Content-Encoding` other than `identity`; we decode none). Answers the 415
 * problem, or null when the body can be decoded as UTF-8 JSON.
 */
export function bodyEncodingProblem(contentType: string, contentEncoding: string | null): Problem | null {
  const coded = contentCodingProblem(contentEncoding, "JSON body");
  if (coded) return coded;
  const charset = nonUtf8Charset(contentType);
  if (charset !== undefined)
    return problem(
      "unsupported-media-type",
      `charset ${charset || "(empty)"} is not supported: send the JSON body as UTF-8`,
    );
  return null;
}

/**
 * The first `charset` parameter of a `Content-Type` value that is not utf-8, unquoted and
 * lower-cased ("" when empty), or undefined when every one it names (if any) is utf-8.
 */
export function nonUtf8Charset(contentType: string): string | undefined {
  for (const parameter of contentType.split(";").slice(1)) {
    const [name = "", ...rest] = parameter.split("=");
    if (name.trim().toLowerCase() !== "charset") continue;
    const charset = rest
      .join("=")
      .trim()
      .replace(/^"(.*)"$/, "$1")
      .toLowerCase();
    if (charset !== "utf-8") return charset;
  }
  return undefined;
}

/**
 * The 415 problem for a body sent with a content coding (a `Content-Encoding` other than
 * `identity`, RFC 9110 §8.4: we decode none, so its bytes would be stored or parsed still coded),
 * or null. `what` names the body in the detail ("JSON body", "append").
 */
export function contentCodingProblem(contentEncoding: string | null, what: string): Problem | null {
  const codings = (contentEncoding ?? "")
    .split(",")
    .map((c) => c.trim().toLowerCase())
    .filter((c) => c !== "" && c !== "identity");
  if (codings.length === 0) return null;
  return problem(
    "unsupported-media-type",
    `Content-Encoding ${codings.join(", ")} is not supported: send the ${what} unencoded`,
  );
}
