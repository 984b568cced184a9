/**
 * What a webhook provider is: how it authenticates a delivery over the raw bytes, and what the delivery means.
 * One file per provider in `providers/`, registered in `providers/index.ts`; the receiver route does the rest
 * (lookup, body limit, filters, publishing, status codes).
 */
import type { ChangeDraft, ProviderName } from "../events/change-event.ts";

/** A request as the provider sees it: headers and the exact body bytes (verify these, never a re-serialisation). */
export type Delivery = {
  method: string;
  headers: Headers;
  body: Uint8Array;
  url: URL;
};

/**
 * The receiver's secret material: `token` always (it also salts the Flux-compatible path), plus provider-specific
 * keys (`username`/`password` for Basic auth, `audience`/`email` for Google Pub/Sub push, …).
 */
export type ReceiverSecret = Readonly<Record<string, string>>;

/** Missing credentials are 401, wrong ones 403: the sender's log then says which. */
export type AuthResult = { ok: true } | { ok: false; status: 401 | 403; reason: string };

/** What an authentic delivery means. */
export type Classified =
  /** Changes to publish (one delivery may carry several: a batch, a push of many refs). */
  | { type: "changes"; eventType: string; deliveryId?: string; changes: ChangeDraft[] }
  /** A ping or test delivery: answered 200, nothing published. */
  | { type: "ping"; eventType: string; deliveryId?: string; reason: string }
  /** Authentic but not for us (pull requests, scans, deletions of unknown kinds): 200 with the reason. */
  | { type: "ignored"; eventType: string; deliveryId?: string; reason: string };

export type Provider = {
  name: ProviderName;
  /** The Flux `Receiver` `spec.type` values whose deliveries this provider can handle. */
  fluxTypes: readonly string[];
  /**
   * For a Flux type several providers share (`github` is sent by GitHub, Gitea and Forgejo): whether this delivery
   * is this provider's. Providers without it handle every delivery of their Flux types.
   */
  recognises?: (delivery: Delivery) => boolean;
  /** Secret keys this provider needs besides `token`, for configuration errors that say what is missing. */
  secretKeys?: readonly string[];
  /** Checks the delivery's credentials in constant time. Never throws for bad input: it answers not ok. */
  authenticate: (delivery: Delivery, secret: ReceiverSecret, now: Date) => AuthResult | Promise<AuthResult>;
  /** Reads the event type and normalises the body. Throws `RequestError` 400 for a malformed body. */
  classify: (delivery: Delivery) => Classified;
};
