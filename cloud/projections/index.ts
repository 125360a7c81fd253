// The read models this deployment keeps: the reference domain's (src/domain/projections/).
export { projectionNamed, projections } from "../../src/domain/projections/index.js";
