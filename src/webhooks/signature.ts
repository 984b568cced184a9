/**
 * Constant-time checks of webhook credentials over raw bytes: HMAC signatures (hex, optionally `algo=` prefixed),
 * shared tokens and HTTP Basic credentials. Comparisons never leak, by timing, how much of a guess was right.
 */
import { createHash, createHmac, timingSafeEqual } from "node:crypto";

export type HmacAlgorithm = "sha1" | "sha256" | "sha512";
const HEX_LENGTH: Record<HmacAlgorithm, number> = { sha1: 40, sha256: 64, sha512: 128 };

/**
 * Whether `hex` is HMAC-`algorithm`(key, body), compared as bytes in constant time. Malformed hex is simply false.
 * @example hmacMatches("sha256", "It's a Secret to Everybody", new TextEncoder().encode("Hello, World!"), "757107ea…")
 */
export function hmacMatches(algorithm: HmacAlgorithm, key: string, body: Uint8Array, hex: string): boolean {
  if (hex.length !== HEX_LENGTH[algorithm] || !/^[0-9a-fA-F]+$/.test(hex)) return false;
  const want = createHmac(algorithm, key).update(body).digest();
  const got = Buffer.from(hex, "hex");
  return got.length === want.length && timingSafeEqual(got, want);
}

/**
 * Reads a `sha256=<hex>` style header value; undefined when the prefix is not one of `allowed`.
 * @example prefixedSignature("sha256=ab12…", ["sha256"]) // { algorithm: "sha256", hex: "ab12…" }
 */
export function prefixedSignature(value: string, allowed: readonly HmacAlgorithm[]): { algorithm: HmacAlgorithm; hex: string } | undefined {
  const eq = value.indexOf("=");
  if (eq < 0) return undefined;
  const algorithm = value.slice(0, eq) as HmacAlgorithm;
  if (!allowed.includes(algorithm)) return undefined;
  return { algorithm, hex: value.slice(eq + 1).trim() };
}

/** Whether two secrets are equal, in time independent of where they differ (both hashed to a fixed length first). */
export function secretEquals(given: string, expected: string): boolean {
  const a = createHash("sha256").update(given).digest();
  const b = createHash("sha256").update(expected).digest();
  return timingSafeEqual(a, b) && given.length === expected.length;
}

/** Whether an `Authorization: Basic …` header carries exactly these credentials. */
export function basicAuthMatches(header: string | null, username: string, password: string): boolean {
  if (header === null) return false;
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (m === null) return false;
  return secretEquals(Buffer.from(m[1] ?? "", "base64").toString("utf8"), `${username}:${password}`);
}
