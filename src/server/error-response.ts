/**
 * The one place where errors become HTTP responses. A `RequestError` answers with its status and reason; anything
 * unexpected is a 500 that names the request id and says nothing of the internals (the log has the stack).
 */
import type { Logger } from "pino";
import { RequestError } from "../errors.ts";
import { jsonResponse } from "./json-response.ts";

/** The JSON body of every error answer. */
export type ErrorBody = { reason: string; message: string; requestId: string };

/** Elysia's own error codes, for the few it raises before our handlers run. */
const ELYSIA_CODES: Record<string, { status: number; reason: string }> = {
  NOT_FOUND: { status: 404, reason: "NotFound" },
  PARSE: { status: 400, reason: "BadRequest" },
  VALIDATION: { status: 400, reason: "BadRequest" },
  INVALID_COOKIE_SIGNATURE: { status: 400, reason: "BadRequest" },
};

/**
 * The response for an error raised while handling a request.
 * @example errorResponse(new RequestError(413, "RequestEntityTooLarge", "body over 3 MiB"), "req-1", log)
 */
export function errorResponse(error: unknown, requestId: string, log: Logger, elysiaCode?: string | number): Response {
  let status: number;
  let body: ErrorBody;
  let headers: Record<string, string> = {};
  if (error instanceof RequestError) {
    status = error.status;
    body = { reason: error.reason, message: error.message, requestId };
    headers = error.headers;
  } else if (typeof elysiaCode === "string" && ELYSIA_CODES[elysiaCode] !== undefined) {
    const m = ELYSIA_CODES[elysiaCode];
    status = m.status;
    body = { reason: m.reason, message: status === 404 ? "no such path" : String((error as Error)?.message ?? error), requestId };
  } else {
    status = 500;
    body = { reason: "InternalError", message: `internal error; the log has the details under requestId ${requestId}`, requestId };
    log.error({ err: error, requestId }, "request failed");
  }
  return jsonResponse(body, status, headers);
}
