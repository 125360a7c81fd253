// What the HTTP layer knows about a request once it is admitted: shared by the edge and cloud
// route modules, which the composition root mounts on one Hono app.

export interface RequestScope {
  /** The authenticated tenant (set on /v1 routes only). */
  tenant: string;
  /** The id of the API key that authenticated the request (set on /v1 routes only). */
  keyId?: string;
  requestId: string;
  /** Browser origins the tenant allows (set on /v1 routes once admitted). */
  corsOrigins?: readonly string[];
  traceparent: string;
  traceId: string;
  /**
   * Frees the request's place in its tenant's in-flight count (idempotent; set on /v1 routes once
   * admitted). A long-poll calls it before it parks: it then waits rather than works, as a stream
   * does once its answer has started, and a tenant's followers must not take the places its
   * commands need (nor hold them after their client has gone, until the poll times out).
   */
  releaseAdmission?: () => void;
  /** Facts a command recorded (set by the entity routes, read by the metrics). */
  factsRecorded?: number;
}
