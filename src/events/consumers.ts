/**
 * The worker's durable consumers (design.md, JetStream layout): the router reads FLUXGATE_EVENTS, the applier reads
 * FLUXGATE_TRIGGERS. Every worker process consumes under the same durable names, so they share the work.
 */
import type { ConsumerSpec } from "./bus.ts";
import { EVENTS_STREAM, TRIGGERS_STREAM } from "./streams.ts";

/** Events → triggers. An event is acked once its triggers are stored; the ack wait covers routing and publishing. */
export const ROUTER_CONSUMER: ConsumerSpec = {
  stream: EVENTS_STREAM.name,
  durable: "fluxgate-router",
  ackWaitMs: 30_000,
  maxDeliver: -1,
  maxAckPending: 10_000,
};

/**
 * Triggers → patches. No limit on unacked messages: triggers held for a closed window or a pending reconcile stay
 * unacked for as long as that lasts, and must not stop others from being delivered.
 */
export const APPLIER_CONSUMER: ConsumerSpec = {
  stream: TRIGGERS_STREAM.name,
  durable: "fluxgate-applier",
  ackWaitMs: 30_000,
  maxDeliver: -1,
  maxAckPending: -1,
};
