/** Real provider payloads from ../shared/fixtures/webhooks, and helpers to sign and deliver them in tests. */
import { createHmac } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Delivery } from "../../src/webhooks/provider.ts";

export const WEBHOOK_FIXTURES = join(import.meta.dirname, "..", "..", "..", "shared", "fixtures", "webhooks");

/** The exact bytes of a fixture file, e.g. `fixture("github/push-payload.json")`. */
export function fixture(path: string): Uint8Array<ArrayBuffer> {
  return new Uint8Array(readFileSync(join(WEBHOOK_FIXTURES, path)));
}

/** Lowercase hex HMAC of the bytes. */
export function hmacHex(algorithm: "sha1" | "sha256" | "sha512", key: string, body: Uint8Array): string {
  return createHmac(algorithm, key).update(body).digest("hex");
}

/** A Delivery as the receiver route builds it. */
export function delivery(headers: Record<string, string>, body: Uint8Array | string, path = "/hook/test"): Delivery {
  return {
    method: "POST",
    headers: new Headers(headers),
    body: typeof body === "string" ? new TextEncoder().encode(body) : body,
    url: new URL(`http://127.0.0.1${path}`),
  };
}

/** The same bytes with one bit flipped at `index` (default: the middle). */
export function flipByte(body: Uint8Array, index = Math.floor(body.length / 2)): Uint8Array<ArrayBuffer> {
  const copy = new Uint8Array(body);
  copy[index] = (copy[index] ?? 0) ^ 0x01;
  return copy;
}
