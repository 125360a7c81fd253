// The projection definition API lives in src/core/model/projection.ts (pure); the cloud tier's runtime
// files import it from here.
export * from "../../src/core/model/projection.js";
