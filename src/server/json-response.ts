/**
 * JSON responses of Fluxgate's routes. srvx's `FastResponse` is the runtime's `Response` on Bun and Deno, and on Node
 * one that srvx writes out without building undici's (a measurable part of a request's CPU there).
 */
import { FastResponse } from "srvx";

/**
 * `body` as `application/json` with `status` and any extra `headers`.
 * @example jsonResponse({ result: "accepted" }, 202)
 */
export function jsonResponse(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new FastResponse(JSON.stringify(body), { status, headers: { "content-type": "application/json", ...headers } });
}
