/**
 * Reading a delivery's body after it is authenticated: strict UTF-8 JSON, then a zod schema of the fields the
 * provider needs, so a malformed payload is a 400 that says which field is wrong, never a crash.
 */
import type { z } from "zod";
import { RequestError } from "../errors.ts";

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** The body as JSON; 400 `MalformedPayload` when it is not UTF-8 JSON. */
export function jsonBody(body: Uint8Array): unknown {
  let text: string;
  try {
    text = utf8.decode(body);
  } catch {
    throw new RequestError(400, "MalformedPayload", "the body is not valid UTF-8");
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new RequestError(400, "MalformedPayload", `the body is not valid JSON: ${(e as Error).message}`);
  }
}

/**
 * The body parsed by `schema`; 400 naming the first wrong field otherwise.
 * @example const push = payload(pushSchema, jsonBody(delivery.body), "GitHub push")
 */
export function payload<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const path = issue === undefined || issue.path.length === 0 ? "(body)" : issue.path.map(String).join(".");
  throw new RequestError(400, "MalformedPayload", `${what} payload: ${path}: ${issue?.message ?? "invalid"}`);
}

/** The Git ref names a provider sends, split: `refs/heads/main` → branch main; `refs/tags/v1` → tag v1. */
export function splitRef(ref: string): { ref: string; branch?: string; tag?: string } {
  if (ref.startsWith("refs/heads/")) return { ref, branch: ref.slice("refs/heads/".length) };
  if (ref.startsWith("refs/tags/")) return { ref, tag: ref.slice("refs/tags/".length) };
  return { ref };
}

/** The all-zero SHA providers send as the new value of a deleted ref. */
export const ZERO_SHA = /^0+$/;
