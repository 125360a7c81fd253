// The Durable Streams protocol rules as pure functions (src/core/streams/): offsets, idempotent
// producers, cursors, SSE framing and the parsing of request headers. Each test is one rule, with
// its source in PROTOCOL.md.
import { describe, expect, it } from "vitest";
import { cursorProblem, responseCursor, CURSOR_EPOCH_MS, CURSOR_INTERVAL_S } from "../../src/core/streams/cursor.js";
import { forkLifetime, isExpired } from "../../src/core/streams/expiry.js";
import { jsonMessages } from "../../src/core/streams/json-mode.js";
import {
  formatOffset,
  offsetOfAnotherGeneration,
  parseLogReadStart,
  parseReadStart,
} from "../../src/core/streams/offsets.js";
import { judgeProducer } from "../../src/core/streams/producer.js";
import { sseEvent } from "../../src/core/streams/sse-events.js";
import { isProblem, parseAppend, parseCreate } from "../../src/core/streams/stream-request.js";

const headers = (h: Record<string, string>) => new Headers(h);

describe("offsets (§8)", () => {
  it("sort lexicographically in stream order", () => {
    const offsets = [0, 1, 9, 10, 99, 100, 123_456_789].map(formatOffset);
    expect([...offsets].sort()).toEqual(offsets);
  });

  it("read back as the generation and message count they were minted from", () => {
    expect(parseReadStart(formatOffset(42))).toEqual({ kind: "after", generation: 0, count: 42 });
    expect(parseReadStart(formatOffset(42, 3))).toEqual({ kind: "after", generation: 3, count: 42 });
    expect(formatOffset(42, 3)).toBe("0000000000000003_0000000000000042");
  });

  it("of a log that is never created again are all of generation 0", () => {
    expect(parseLogReadStart(formatOffset(7))).toEqual({ kind: "after", generation: 0, count: 7 });
    expect(parseLogReadStart(formatOffset(7, 1))).toBeUndefined();
    expect(parseLogReadStart("now")).toEqual({ kind: "now" });
  });

  it("of an earlier generation are gone (410), of a later one never issued (400), of the stream's own fine", () => {
    expect(offsetOfAnotherGeneration(1, 2)).toMatchObject({ kind: "offset-gone" });
    expect(offsetOfAnotherGeneration(3, 2, "Stream-Fork-Offset")).toEqual({
      kind: "malformed-request",
      detail: "Stream-Fork-Offset is not one this stream issued",
    });
    expect(offsetOfAnotherGeneration(2, 2)).toBeUndefined();
  });

  it("take -1 and an absent offset as the start, now as the tail", () => {
    expect([parseReadStart(undefined), parseReadStart("-1"), parseReadStart("now")]).toEqual([
      { kind: "start" },
      { kind: "start" },
      { kind: "now" },
    ]);
  });

  it("refuse anything this server did not mint", () => {
    for (const raw of [
      "",
      "abc",
      "1,2",
      "0000000000000000_00000000000000 1",
      "../etc",
      "00000000000000001_0000000000000000",
      "-2",
    ])
      expect(parseReadStart(raw)).toBeUndefined();
  });
});

describe("idempotent producers (§5.2.1)", () => {
  it("accept a new producer only from seq 0", () => {
    expect(judgeProducer(undefined, { id: "p", epoch: 0, seq: 0 })).toEqual({
      status: "accepted",
      next: { epoch: 0, lastSeq: 0 },
    });
    expect(judgeProducer(undefined, { id: "p", epoch: 0, seq: 3 })).toEqual({
      status: "sequence-gap",
      expectedSeq: 0,
      receivedSeq: 3,
    });
  });

  it("deduplicate a retry, answering the highest accepted seq", () => {
    expect(judgeProducer({ epoch: 2, lastSeq: 7 }, { id: "p", epoch: 2, seq: 5 })).toEqual({
      status: "duplicate",
      lastSeq: 7,
    });
  });

  it("fence an older epoch", () => {
    expect(judgeProducer({ epoch: 2, lastSeq: 7 }, { id: "p", epoch: 1, seq: 8 })).toEqual({
      status: "stale-epoch",
      currentEpoch: 2,
    });
  });

  it("start a newer epoch only at seq 0", () => {
    expect(judgeProducer({ epoch: 2, lastSeq: 7 }, { id: "p", epoch: 3, seq: 1 })).toEqual({
      status: "epoch-must-start-at-zero",
    });
    expect(judgeProducer({ epoch: 2, lastSeq: 7 }, { id: "p", epoch: 3, seq: 0 }).status).toBe("accepted");
  });
});

describe("cursors (§10.1)", () => {
  const now = CURSOR_EPOCH_MS + 1000 * CURSOR_INTERVAL_S * 500 + 5;

  it("name the current interval when the client echoes none or an older one", () => {
    expect(responseCursor(undefined, now, 0.5)).toBe("500");
    expect(responseCursor("12", now, 0.5)).toBe("500");
  });

  it("move strictly past an echoed cursor at or beyond the current interval", () => {
    expect(Number(responseCursor("500", now, 0))).toBeGreaterThan(500);
    expect(Number(responseCursor("900", now, 0.999))).toBeGreaterThan(900);
  });

  it("ignore an echoed cursor that is not a number", () => {
    expect(responseCursor("1e3", now, 0)).toBe("500");
  });

  it("move past an echoed cursor of any length, staying a safe integer", () => {
    for (const echoed of ["1000000000000000", "9007199254740000", "9007199254740990"]) {
      const next = Number(responseCursor(echoed, now, 0.999));
      expect(next, echoed).toBeGreaterThan(Number(echoed));
      expect(Number.isSafeInteger(next), echoed).toBe(true);
    }
  });

  it("refuse an echoed number with no safe successor, and only that", () => {
    for (const echoed of ["9007199254740991", "99999999999999999999"])
      expect(cursorProblem(echoed), echoed).toMatchObject({ status: 400 });
    for (const echoed of [null, "abc", "9007199254740990", "0"])
      expect(cursorProblem(echoed), String(echoed)).toBeUndefined();
  });
});

describe("SSE framing (§5.8)", () => {
  it("turns every line terminator of a payload into a new data line, so no payload ends an event", () => {
    const wire = new TextDecoder().decode(sseEvent("data", "a\r\revent: control\rdata: {}\r\n\nz"));
    expect(wire).toBe("event: data\ndata:a\ndata:\ndata:event: control\ndata:data: {}\ndata:\ndata:z\n\n");
  });
});

describe("JSON mode (§9.1)", () => {
  const bytes = (s: string) => new TextEncoder().encode(s);

  it("flattens one level of an array into messages", () => {
    expect(jsonMessages(bytes('[{"a":1},[2,3]]'), false)).toEqual({ ok: true, messages: ['{"a":1}', "[2,3]"] });
  });

  it("refuses an empty array on append but not on create", () => {
    expect(jsonMessages(bytes("[]"), false)).toEqual({ ok: false, reason: "empty-array" });
    expect(jsonMessages(bytes("[]"), true)).toEqual({ ok: true, messages: [] });
  });

  it("keeps each element of an array exactly as sent, so no message is changed on its way through", () => {
    const sent = '[ {"a":1,"a":2} , 1e400,9007199254740993, "x,]\\"y" ,[{"b":[1,2]}] ]';
    expect(jsonMessages(bytes(sent), false)).toEqual({
      ok: true,
      messages: ['{"a":1,"a":2}', "1e400", "9007199254740993", '"x,]\\"y"', '[{"b":[1,2]}]'],
    });
  });

  it("keeps a key named __proto__ as data", () => {
    expect(jsonMessages(bytes('{"__proto__":{"x":1}}'), false)).toEqual({
      ok: true,
      messages: ['{"__proto__":{"x":1}}'],
    });
  });
});

describe("request headers (§5.1, §5.2)", () => {
  it("refuse a TTL with a sign, leading zero, fraction or exponent", () => {
    for (const ttl of ["+1", "01", "1.0", "1e3", "-1", "0x10"])
      expect(isProblem(parseCreate(headers({ "stream-ttl": ttl }))), ttl).toBe(true);
  });

  it("refuse a Content-Type that is not a media type, and take an absent or empty one as the default", () => {
    for (const type of ["not a type", "json", "/plain", "text/", "application/json garbage;;;", "text/plain,x/y"])
      expect(isProblem(parseCreate(headers({ "content-type": type }))), type).toBe(true);
    for (const type of ["", "  ", "text/plain; charset=utf-8", "application/vnd.api+json", "text/plain ;a=b"])
      expect(isProblem(parseCreate(headers({ "content-type": type }))), type).toBe(false);
  });

  it("hold an append's Content-Type to the same rules as a create's: a media type, at most 256 characters", () => {
    const long = `application/json;x=${"a".repeat(300)}`;
    for (const type of [long, `application/json;x=${"a".repeat(100_000)}`, "application/json garbage;;;", "json"])
      expect(isProblem(parseAppend(headers({ "content-type": type }))), type.slice(0, 40)).toBe(true);
    expect(parseAppend(headers({ "content-type": " application/json; charset=utf-8 " }))).toMatchObject({
      contentType: "application/json; charset=utf-8",
    });
    expect(parseAppend(headers({}))).toMatchObject({ contentType: undefined });
  });

  it('refuse every protocol header sent twice, as the Fetch API joins the lines: with ", "', () => {
    const twice = (name: string, a: string, b: string) => {
      const h = new Headers({ "content-type": "text/plain" });
      h.append(name, a);
      h.append(name, b);
      return h;
    };
    const appends: [string, string, string][] = [
      ["producer-id", "a", "b"],
      ["stream-seq", "1", "2"],
      ["stream-closed", "true", "true"],
      ["content-type", "text/plain; a=1", "text/plain"],
    ];
    for (const [name, a, b] of appends) {
      const h = twice(name, a, b);
      if (name !== "producer-id") h.delete("producer-id");
      expect(isProblem(parseAppend(h)), name).toBe(true);
    }
    expect(isProblem(parseCreate(twice("stream-closed", "true", "true")))).toBe(true);
    expect(parseAppend(headers({ "content-type": "text/plain", "stream-seq": "a,b" }))).toMatchObject({
      streamSeq: "a,b",
    });
  });

  it("refuse a TTL together with an expiry", () => {
    expect(isProblem(parseCreate(headers({ "stream-ttl": "5", "stream-expires-at": "2030-01-01T00:00:00Z" })))).toBe(
      true,
    );
  });

  it("refuse a fork sub-offset without a source", () => {
    expect(isProblem(parseCreate(headers({ "stream-fork-sub-offset": "0" })))).toBe(true);
  });

  it("refuse producer headers that do not come as all three", () => {
    expect(isProblem(parseAppend(headers({ "producer-id": "p", "producer-epoch": "0" })))).toBe(true);
  });

  it("refuse a Producer-Id or Stream-Seq over 256 characters", () => {
    const long = "x".repeat(257);
    expect(isProblem(parseAppend(headers({ "producer-id": long, "producer-epoch": "0", "producer-seq": "0" })))).toBe(
      true,
    );
    expect(isProblem(parseAppend(headers({ "stream-seq": long })))).toBe(true);
  });

  it("count Stream-Closed only when it is exactly true, in any case", () => {
    expect((parseAppend(headers({ "stream-closed": "TRUE" })) as { close: boolean }).close).toBe(true);
    expect((parseAppend(headers({ "stream-closed": "yes" })) as { close: boolean }).close).toBe(false);
  });
});

describe("lifetimes (§4.2)", () => {
  it("expire a sliding TTL that long after the last read or write", () => {
    expect(isExpired({ ttlSeconds: 2, expiresAt: undefined }, 1_000, 2_999)).toBe(false);
    expect(isExpired({ ttlSeconds: 2, expiresAt: undefined }, 1_000, 3_000)).toBe(true);
  });

  it("give a fork its source's lifetime unless it asks for its own", () => {
    const source = { ttlSeconds: 60, expiresAt: undefined };
    expect(forkLifetime({ ttlSeconds: undefined, expiresAt: undefined }, source)).toEqual(source);
    expect(forkLifetime({ ttlSeconds: undefined, expiresAt: "2030-01-01T00:00:00Z" }, source)).toEqual({
      ttlSeconds: undefined,
      expiresAt: "2030-01-01T00:00:00Z",
    });
  });
});
