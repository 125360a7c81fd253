// Idempotent producers (PROTOCOL.md §5.2.1, Kafka-style): a producer names itself (`Producer-Id`),
// its session (`Producer-Epoch`) and each request's place in it (`Producer-Seq`). The server
// fences stale epochs, deduplicates retries and refuses gaps. Pure: the host commits `next`
// only when the append it guards is committed, in the same transaction.

/** What the server remembers of one producer on one stream. */
export interface ProducerState {
  readonly epoch: number;
  readonly lastSeq: number;
}

/** The three producer headers of one request, already parsed. */
export interface ProducerClaim {
  readonly id: string;
  readonly epoch: number;
  readonly seq: number;
}

/** The verdict on one request; only `accepted` carries state to commit. */
export type ProducerVerdict =
  | { readonly status: "accepted"; readonly next: ProducerState }
  | { readonly status: "duplicate"; readonly lastSeq: number }
  | { readonly status: "stale-epoch"; readonly currentEpoch: number }
  | { readonly status: "epoch-must-start-at-zero" }
  | { readonly status: "sequence-gap"; readonly expectedSeq: number; readonly receivedSeq: number };

/** Judges `claim` against the producer's remembered state (undefined: never seen on this stream). */
export function judgeProducer(state: ProducerState | undefined, claim: ProducerClaim): ProducerVerdict {
  if (state === undefined) {
    return claim.seq === 0
      ? { status: "accepted", next: { epoch: claim.epoch, lastSeq: 0 } }
      : { status: "sequence-gap", expectedSeq: 0, receivedSeq: claim.seq };
  }
  if (claim.epoch < state.epoch) return { status: "stale-epoch", currentEpoch: state.epoch };
  if (claim.epoch > state.epoch) {
    return claim.seq === 0
      ? { status: "accepted", next: { epoch: claim.epoch, lastSeq: 0 } }
      : { status: "epoch-must-start-at-zero" };
  }
  if (claim.seq <= state.lastSeq) return { status: "duplicate", lastSeq: state.lastSeq };
  if (claim.seq === state.lastSeq + 1) return { status: "accepted", next: { epoch: claim.epoch, lastSeq: claim.seq } };
  return { status: "sequence-gap", expectedSeq: state.lastSeq + 1, receivedSeq: claim.seq };
}
