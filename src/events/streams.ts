/**
 * The JetStream layout (design.md): deliveries become messages on FLUXGATE_EVENTS, deduplicated by the provider's
 * delivery id; the worker's per-object triggers live on FLUXGATE_TRIGGERS, one pending message per object.
 */

export type StreamSpec = {
  name: string;
  subjects: string[];
  /** Window in ms in which a repeated `Nats-Msg-Id` is dropped by the server. */
  duplicateWindowMs: number;
  /** Messages older than this are removed. */
  maxAgeMs: number;
  /** Keep at most this many messages per subject (older ones are discarded); 0 = no limit. */
  maxMsgsPerSubject: number;
};

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;

export const EVENTS_STREAM: StreamSpec = {
  name: "FLUXGATE_EVENTS",
  subjects: ["fluxgate.events.>"],
  // GitHub redeliveries by hand and Bitbucket's retries come within minutes; keep a generous window.
  duplicateWindowMs: 10 * MINUTE,
  maxAgeMs: 7 * DAY,
  maxMsgsPerSubject: 0,
};

export const TRIGGERS_STREAM: StreamSpec = {
  name: "FLUXGATE_TRIGGERS",
  subjects: ["fluxgate.triggers.>"],
  duplicateWindowMs: 2 * MINUTE,
  maxAgeMs: 7 * DAY,
  // A burst of events for one object leaves one pending trigger: coalescing is a property of the stream.
  maxMsgsPerSubject: 1,
};

export const STREAMS: readonly StreamSpec[] = [EVENTS_STREAM, TRIGGERS_STREAM];

/** `fluxgate.events.github` */
export const eventSubject = (provider: string): string => `fluxgate.events.${provider}`;
