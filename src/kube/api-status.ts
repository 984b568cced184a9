/**
 * Reads a failed API response into a `Failure`: the `metav1.Status` body kube-apiserver sends for most errors, or
 * the plain text of API Priority and Fairness / max-in-flight rejections ("Too many requests, please try again
 * later."), with the wait the server asked for from `Retry-After` or `details.retryAfterSeconds`.
 */
import { z } from "zod";
import type { Failure } from "./retry-policy.ts";

/** `metav1.Status` as far as Fluxgate reads it; other fields pass through. */
export const statusSchema = z.looseObject({
  kind: z.literal("Status"),
  status: z.string().optional(),
  message: z.string().optional(),
  reason: z.string().optional(),
  code: z.number().optional(),
  details: z
    .looseObject({
      name: z.string().optional(),
      group: z.string().optional(),
      kind: z.string().optional(),
      causes: z.array(z.looseObject({ reason: z.string().optional(), message: z.string().optional(), field: z.string().optional() })).optional(),
      retryAfterSeconds: z.number().optional(),
    })
    .optional(),
});

export type KubeStatus = z.infer<typeof statusSchema>;

/** The reason kube-apiserver gives each status when it writes a Status body (apimachinery `errors.go`). */
const REASONS: Record<number, string> = {
  400: "BadRequest",
  401: "Unauthorized",
  403: "Forbidden",
  404: "NotFound",
  405: "MethodNotAllowed",
  406: "NotAcceptable",
  409: "Conflict",
  410: "Expired",
  413: "RequestEntityTooLarge",
  415: "UnsupportedMediaType",
  422: "Invalid",
  429: "TooManyRequests",
  500: "InternalError",
  503: "ServiceUnavailable",
  504: "Timeout",
};

/** The reason for a status when the body names none. @example reasonForStatus(503) // "ServiceUnavailable" */
export function reasonForStatus(status: number): string {
  return REASONS[status] ?? (status >= 500 ? "InternalError" : `HTTP${status}`);
}

/**
 * Seconds to wait from a `Retry-After` value: delta-seconds, or an HTTP date (RFC 9110) measured from `nowMs`.
 * @example parseRetryAfter("1", Date.now()) // 1
 */
export function parseRetryAfter(value: string | undefined, nowMs: number): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text);
  const at = Date.parse(text);
  if (Number.isNaN(at) || !/[a-z]/i.test(text)) return undefined;
  return Math.max(0, Math.ceil((at - nowMs) / 1000));
}

/** A response header's first value; node:http gives arrays for repeated headers. */
function header(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

const MAX_TEXT = 300;

/**
 * What a non-2xx response says. The Status body wins where it has a field; the `Retry-After` header wins over
 * `details.retryAfterSeconds` (the apiserver sets both to the same value).
 */
export function failureFromResponse(
  response: { status: number; headers: Record<string, string | string[] | undefined>; body: string },
  nowMs: number,
): Failure {
  const parsed = parseStatus(response.body);
  const text = response.body.trim();
  const message = parsed?.message ?? (text === "" ? `HTTP ${response.status} with an empty body` : text.length > MAX_TEXT ? `${text.slice(0, MAX_TEXT)}…` : text);
  const retryAfterSeconds = parseRetryAfter(header(response.headers, "retry-after"), nowMs) ?? parsed?.details?.retryAfterSeconds;
  const failure: Failure = { status: response.status, reason: parsed?.reason ?? reasonForStatus(response.status), message };
  if (retryAfterSeconds !== undefined) failure.retryAfterSeconds = retryAfterSeconds;
  if (parsed?.details !== undefined) failure.details = parsed.details;
  return failure;
}

/** The Status in a body, or undefined when the body is not one (plain text, HTML from a proxy, empty). */
export function parseStatus(body: string): KubeStatus | undefined {
  if (!body.trimStart().startsWith("{")) return undefined;
  try {
    const r = statusSchema.safeParse(JSON.parse(body));
    return r.success ? r.data : undefined;
  } catch {
    return undefined;
  }
}
