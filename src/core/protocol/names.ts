// The grammars of the names a definition gives (entity types, commands, events, projections,
// sagas, stages, services, filters). Each becomes part of a URL, an object's name, a key or a
// stored record, so each kind has one grammar, checked when the definition is made (`checkName`)
// and, as zod schemas built from these (identifiers.ts), by every route that parses one. None is a
// member of Object.prototype: `constructor` or `toString` as a name would be one lookup written
// with `record[name]` away from answering for a built-in (own-keys.ts). Free of zod, so that the
// definition modules, which factline/client bundles for browsers, stay small.

/** The grammar of one kind of name: its pattern, and the rule an error states. */
export interface NameGrammar {
  readonly pattern: RegExp;
  readonly rule: string;
}

/** Lower-case names that are a URL path segment or part of an object's name. */
export const SEGMENT_NAME: NameGrammar = {
  pattern: /^[a-z][a-z0-9-]{0,39}$/,
  rule: 'must be 1-40 of a-z 0-9 "-", starting with a letter',
};

/** Names written as object keys in code (commands, events, filters): camelCase or PascalCase welcome. */
export const MEMBER_NAME: NameGrammar = {
  pattern: /^[A-Za-z][A-Za-z0-9_-]{0,63}$/,
  rule: 'must be 1-64 of A-Z a-z 0-9 "_" "-", starting with a letter',
};

/**
 * An entity id: 1-128 of the URL's unreserved characters (RFC 3986 §2.3: A-Z a-z 0-9 - . _ ~),
 * except the dot segments `.` and `..`, which a URL parser removes (RFC 3986 §5.2.4) so no URL
 * could reach them. ASCII only on purpose: a Unicode id has several spellings (NFC, NFD,
 * percent-encodings) that would name different objects, and no '/', '%', '?', '#', whitespace
 * or control character can change a URL's meaning. Such an id needs no percent-encoding, so
 * `encodeURIComponent(id) === id` and a URL built from it routes back to exactly it. One pattern,
 * dot segments included, so the API document's `pattern` is the whole rule. The routes parse it
 * as `entityIdSchema` (identifiers.ts); factline/client checks it here, free of zod.
 */
export const ENTITY_ID: NameGrammar = {
  pattern: /^(?!\.\.?$)[A-Za-z0-9._~-]{1,128}$/,
  rule: "1-128 of A-Z a-z 0-9 . _ ~ -, not '.' or '..' (URL dot segments, which no URL can address)",
};

/** What every name's error says when it is a member of Object.prototype. */
export const NOT_A_PROTOTYPE_MEMBER = "must not be a member of Object.prototype (constructor, toString, valueOf, …)";

/** The rule `name` breaks in `grammar`, or undefined when it is a well-formed name of that kind. */
export function nameMistake(grammar: NameGrammar, name: unknown): string | undefined {
  if (typeof name !== "string" || !grammar.pattern.test(name)) return grammar.rule;
  return Object.hasOwn(Object.prototype, name) ? NOT_A_PROTOTYPE_MEMBER : undefined;
}

/**
 * Throws unless `name` is in `grammar`, with the value and the rule it breaks, e.g.
 * `entity type "my books": must be 1-40 of a-z 0-9 "-", starting with a letter`. `kind` says what
 * the name is, and where when that helps (`entity books: command name`).
 */
export function checkName(kind: string, grammar: NameGrammar, name: unknown): void {
  const mistake = nameMistake(grammar, name);
  if (mistake !== undefined) throw new Error(`${kind} ${JSON.stringify(name)}: ${mistake}`);
}
