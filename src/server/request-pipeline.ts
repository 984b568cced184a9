/**
 * What every request goes through before and after its route, on every listener: a request id, the body-size
 * limit (413 before the body is read when Content-Length says so), the request timeout (503), error mapping, an
 * access log line, a latency histogram, and the in-flight count that graceful shutdown waits on.
 */
import { Buffer } from "node:buffer";
import { randomUUID } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { Logger } from "pino";
import { Histogram } from "prom-client";
import type { Registry } from "prom-client";
import { RequestError } from "../errors.ts";
import { errorResponse } from "./error-response.ts";

export type Fetch = (request: Request) => Response | Promise<Response>;

export type PipelineLimits = {
  /** Largest body in bytes; read per request so a config reload applies at once. */
  bodyLimit(): number;
  /** Longest a request may take, in ms. */
  requestTimeoutMs(): number;
};

export const REQUEST_ID_HEADER = "x-request-id";

const ids = new WeakMap<Request, string>();

/** The id the pipeline gave this request (for routes and error handlers that log). */
export function requestIdOf(request: Request): string {
  return ids.get(request) ?? "unknown";
}

/** Request ids we accept from a caller: short and printable, so they are safe in logs and headers. */
const CALLER_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export type RequestPipeline = {
  wrap(listener: string, fetch: Fetch): Fetch;
  /** Requests currently being handled, on every listener. */
  inFlight(): number;
  /** Resolves when no request is in flight. */
  idle(): Promise<void>;
};

/** One pipeline per process; `wrap` each listener's app with it. */
export function createRequestPipeline(log: Logger, registry: Registry, limits: PipelineLimits): RequestPipeline {
  const duration = new Histogram({
    name: "fluxgate_http_request_duration_seconds",
    help: "Time to answer an HTTP request, by listener, method and status code.",
    labelNames: ["listener", "method", "code"] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  let inFlight = 0;
  let waiters: Array<() => void> = [];
  const done = () => {
    inFlight--;
    if (inFlight === 0) {
      for (const w of waiters) w();
      waiters = [];
    }
  };

  const wrap = (listener: string, fetch: Fetch): Fetch => async (request) => {
    const started = performance.now();
    const given = request.headers.get(REQUEST_ID_HEADER);
    const requestId = given !== null && CALLER_ID.test(given) ? given : randomUUID();
    ids.set(request, requestId);
    inFlight++;
    let response: Response;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const length = request.headers.get("content-length");
      const limit = limits.bodyLimit();
      if (length !== null && Number(length) > limit) {
        throw declaredTooLarge(length, limit);
      }
      const timeoutMs = limits.requestTimeoutMs();
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new RequestError(503, "Timeout", `request took longer than ${timeoutMs} ms`, { headers: { "retry-after": "1" } })), timeoutMs);
      });
      response = await Promise.race([Promise.resolve(fetch(request)), timeout]);
    } catch (e) {
      response = errorResponse(e, requestId, log);
    } finally {
      if (timer !== undefined) clearTimeout(timer);
      done();
    }
    if (!request.bodyUsed && !readDirectly.has(request) && request.body !== null) {
      // Answered without reading the body (413, 404, 401 …): discard the rest, so the runtime does not keep the
      // request open (Bun's graceful stop waits on it).
      await request.body.cancel().catch(() => {});
    }
    // A body refused at the limit may be partly unread: close the connection rather than drain a huge upload.
    if (response.status === 413) setHeader(response, "connection", "close");
    if (!response.headers.has(REQUEST_ID_HEADER)) setHeader(response, REQUEST_ID_HEADER, requestId);
    const seconds = (performance.now() - started) / 1000;
    duration.observe({ listener, method: request.method, code: String(response.status) }, seconds);
    if (log.isLevelEnabled("debug")) {
      log.debug({ listener, requestId, method: request.method, path: new URL(request.url).pathname, status: response.status, ms: Math.round(seconds * 1e4) / 10 }, "request");
    }
    return response;
  };

  return {
    wrap,
    inFlight: () => inFlight,
    idle: () => (inFlight === 0 ? Promise.resolve() : new Promise((r) => waiters.push(r))),
  };
}

function setHeader(response: Response, name: string, value: string): void {
  try {
    response.headers.set(name, value);
  } catch {
    // Immutable headers (a Response.redirect, a fetched response): the request id is still in the log line.
  }
}

/**
 * Reads a body as bytes, never more than `limit` (413 past it), whatever Content-Length claims: HMAC routes verify
 * these exact bytes.
 * @example const bytes = await readBody(request, 3 * 1024 * 1024)
 */
export async function readBody(request: Request, limit: number): Promise<Uint8Array> {
  // On Node, srvx hands over the IncomingMessage: reading it directly skips building an undici Request and a web
  // stream for the body, which were a fifth of the receiver's CPU per delivery there.
  const length = request.headers.get("content-length");
  const declared = length !== null && /^\d+$/.test(length);
  if (declared && Number(length) > limit) throw declaredTooLarge(length, limit);
  const incoming = (request as { runtime?: { node?: { req?: IncomingMessage } } }).runtime?.node?.req;
  if (incoming !== undefined && !request.bodyUsed && !readDirectly.has(request)) {
    readDirectly.add(request);
    return readIncoming(incoming, limit);
  }
  // The runtime delivers exactly Content-Length bytes, so the declared size is the size: read it in one go (much
  // faster than a chunk loop on Bun), after the check.
  if (declared) return new Uint8Array(await request.arrayBuffer());
  if (request.body === null) return new Uint8Array(0);
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => {});
      throw overLimit(limit);
    }
    chunks.push(value);
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

/** 413 for a Content-Length over the limit, before any of the body is read. */
const declaredTooLarge = (length: string, limit: number) => new RequestError(413, "RequestEntityTooLarge", `request body is ${length} bytes; the limit is ${limit} bytes`);

/** 413 for a body that turned out longer than the limit while it was read. */
const overLimit = (limit: number) => new RequestError(413, "RequestEntityTooLarge", `request body is over the limit of ${limit} bytes`);

/** Requests whose body `readBody` took from the IncomingMessage: srvx does not know it is read (`bodyUsed`). */
const readDirectly = new WeakSet<Request>();

/** The body of a Node request, at most `limit` bytes (413 past it); an aborted or failed request rejects. */
function readIncoming(incoming: IncomingMessage, limit: number): Promise<Uint8Array> {
  if (incoming.readableEnded) return Promise.resolve(new Uint8Array(0));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (f: () => void) => {
      incoming.off("data", onData).off("end", onEnd).off("error", onError).off("close", onClose);
      f();
    };
    const onData = (chunk: Buffer) => {
      size += chunk.byteLength;
      if (size > limit) {
        incoming.pause();
        done(() => reject(overLimit(limit)));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => done(() => resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size)));
    const onError = (e: Error) => done(() => reject(e));
    const onClose = () => done(() => reject(new RequestError(400, "BodyIncomplete", "the client closed the connection before the body was complete")));
    incoming.on("data", onData).on("end", onEnd).on("error", onError).on("close", onClose);
  });
}
