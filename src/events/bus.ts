/**
 * The bus the receiver publishes to and the worker consumes from: NATS JetStream in production, an in-process
 * implementation with the same contract in the embedded mode. A publish resolves only once the message is stored
 * (JetStream ack), so the receiver can answer 202 knowing the event cannot be lost.
 */
export type PublishAck = {
  stream: string;
  seq: number;
  /** The server had a message with this id within the stream's duplicate window: nothing new was stored. */
  duplicate: boolean;
};

export type Bus = {
  /** `in-process` or `jetstream`, for logs and /readyz. */
  kind: "in-process" | "jetstream";
  /** Stores `data` on `subject` with `msgId` as its deduplication id. Throws `UnavailableError` (reason `BusUnavailable`) when it cannot. */
  publish(subject: string, data: Uint8Array, msgId: string): Promise<PublishAck>;
  close(): Promise<void>;
};
