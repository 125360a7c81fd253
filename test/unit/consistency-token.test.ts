// A consistency token names one write (tenant, entity, version): these pin what a token is read as.
import { describe, expect, it } from "vitest";
import { decodeConsistencyToken, encodeConsistencyToken } from "../../src/core/protocol/consistency-token.js";

const point = { tenant: "acme", entityType: "inventory", entityId: "sku-1", seq: 3 };
const tokenOf = (json: string) => btoa(json).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");

describe("a consistency token", () => {
  it("reads back as the point it was made for", () => {
    expect(decodeConsistencyToken(encodeConsistencyToken(point))).toEqual(point);
  });

  it("is refused when it names a field twice, which would name two points", () => {
    expect(decodeConsistencyToken(tokenOf('{"t":"acme","e":"inventory","i":"sku-1","s":1,"s":99}'))).toBeUndefined();
  });

  it("is refused with a field it does not define", () => {
    expect(decodeConsistencyToken(tokenOf('{"t":"acme","e":"inventory","i":"sku-1","s":1,"x":0}'))).toBeUndefined();
  });
});
