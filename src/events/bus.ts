/**
 * The bus the receiver publishes to and the worker consumes from: NATS JetStream in production, an in-process
 * implementation with the same contract in the embedded mode. A publish resolves only once the message is stored
 * (JetStream ack), so the receiver can answer 202 knowing the event cannot be lost. Consumers are durable pull
 * consumers with explicit acks: a message is redelivered until it is acked (or terminated), after `nak(delay)` or
 * once its ack wait passes without a sign of progress.
 */
export type PublishAck = {
  stream: string;
  seq: number;
  /** The server had a message with this id within the stream's duplicate window: nothing new was stored. */
  duplicate: boolean;
};

/** A durable pull consumer, as JetStream keeps it (`src/events/consumers.ts` holds Fluxgate's two). */
export type ConsumerSpec = {
  stream: string;
  /** Durable name: every process consuming under this name shares one cursor, each message going to one of them. */
  durable: string;
  /** Only messages on this subject (pattern) are delivered; default all of the stream's. */
  filterSubject?: string;
  /** A delivered message not acked, nak'ed or marked working within this long is delivered again. */
  ackWaitMs: number;
  /** Deliveries before the server gives up on a message; -1 (default) never. */
  maxDeliver?: number;
  /** Messages delivered and not yet acked, beyond which delivery pauses; -1 (default) no limit. */
  maxAckPending?: number;
};

/** One delivery of a stored message. Settle it exactly once: `ack`, `nak` or `term`; later calls are ignored. */
export type Delivery = {
  subject: string;
  data: Uint8Array;
  /** Stream sequence of the message. */
  seq: number;
  /** 1 on the first delivery, 2 on the first redelivery, … */
  deliveries: number;
  /** When the stream stored the message. */
  storedAt: Date;
  /** Done: never delivered again. */
  ack(): void;
  /** Not done: deliver it again after `delayMs` (default at once). */
  nak(delayMs?: number): void;
  /** Done for good without success (a message that can never be handled): never delivered again. */
  term(): void;
  /** Whether ack, nak or term was called. */
  settled(): boolean;
  /**
   * Whether the stream still stores this message. On FLUXGATE_TRIGGERS a newer message on the same subject replaces
   * it, so a false here means a newer trigger for the same object is on its way.
   */
  stored(): Promise<boolean>;
};

/**
 * Handles one delivery. The handler may settle the delivery later, after it returned (the applier keeps triggers
 * whose object has a pending reconcile request): the bus keeps an unsettled delivery alive (JetStream `working`)
 * until it is settled or the consumption stops. A handler that throws gets its delivery nak'ed with a back-off.
 */
export type DeliveryHandler = (delivery: Delivery) => Promise<void>;

export type ConsumeOptions = {
  /** Handlers running at once; default 1. Unsettled deliveries whose handler returned do not count. */
  concurrency?: number;
  /** Told about a handler that threw (its delivery was nak'ed). */
  onError?: (error: unknown, delivery: Delivery) => void;
};

/** A running consumption; see `Bus.consume`. */
export type Consumption = {
  /**
   * Stops taking deliveries, waits for running handlers, and naks what is still unsettled so another process gets
   * it at once.
   */
  stop(): Promise<void>;
};

export type Bus = {
  /** `in-process` or `jetstream`, for logs and /readyz. */
  kind: "in-process" | "jetstream";
  /** Stores `data` on `subject` with `msgId` as its deduplication id. Throws `UnavailableError` (reason `BusUnavailable`) when it cannot. */
  publish(subject: string, data: Uint8Array, msgId: string): Promise<PublishAck>;
  /**
   * Creates the durable consumer if missing (updating its limits if it exists) and hands its deliveries to
   * `handler`. Several calls with the same durable name, in one process or many, share the consumer.
   * @example const c = await bus.consume(APPLIER_CONSUMER, async (d) => { await patch(d); d.ack(); }, { concurrency: 16 })
   */
  consume(spec: ConsumerSpec, handler: DeliveryHandler, options?: ConsumeOptions): Promise<Consumption>;
  close(): Promise<void>;
};
