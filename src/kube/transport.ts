/**
 * HTTP to the API server over `node:http`/`node:https`, with the server URL, TLS material and credentials a
 * `KubeConfig` holds (`applyToHTTPSOptions`, asked again for every request so rotated tokens are picked up).
 *
 * Why not `@kubernetes/client-node`'s API classes or `Watch`: they use undici's `fetch` with an undici dispatcher
 * for the CA and client certificate, and Bun's `undici` ignores the dispatcher, so on Bun every request to a server
 * with a private CA fails (`UNABLE_TO_VERIFY_LEAF_SIGNATURE`). `node:https` with the KubeConfig's agent verifies
 * and streams the same on Node, Bun and Deno. Owning the request also gives us status, headers (`Retry-After`) and
 * timing for the retry policy and metrics.
 */
import { Agent as HttpAgent, request as httpRequest } from "node:http";
import type { IncomingMessage, OutgoingHttpHeaders } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";
import type { RequestOptions } from "node:https";
import { KubeConfig } from "@kubernetes/client-node";
import { UnavailableError } from "../errors.ts";
import { VERSION } from "../version.ts";

/** No response: refused, reset, TLS failure (`ConnectionError`), or none in time (`Timeout`). */
export class KubeTransportError extends UnavailableError {
  override name = "KubeTransportError";
  constructor(reason: "ConnectionError" | "Timeout", message: string, options?: { cause?: unknown }) {
    super(reason, message, options);
  }
}

export type HttpRequest = {
  method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  /** Path and query, e.g. `/apis/g/v/namespaces/ns/plural?watch=true`. */
  path: string;
  /** `Content-Type` of `body`. */
  contentType?: string;
  body?: string;
  /** For `request`: the whole exchange; for `stream`: until the response headers. */
  timeoutMs: number;
  signal?: AbortSignal;
};

export type HttpResponse = { status: number; headers: Record<string, string | string[] | undefined>; body: string };

/** An open streaming response (a watch): its lines as they arrive; `close()` ends it early. */
export type HttpStream = {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  lines(): AsyncGenerator<string, void, undefined>;
  close(): void;
};

/** The API server connection every `KubeClient` call goes through. */
export type Transport = {
  /** The server URL, e.g. `https://10.0.0.1:443`. */
  readonly server: string;
  request(req: HttpRequest): Promise<HttpResponse>;
  /** For 2xx, the open stream; otherwise the whole response (a Status body), as `request` would give it. */
  stream(req: HttpRequest): Promise<HttpStream | HttpResponse>;
};

const USER_AGENT = `fluxgate/${VERSION}`;

/**
 * A transport for the current context of `kubeConfig`.
 * @example const t = createTransport(loadKubeConfig({ from: "auto" }).kubeConfig); await t.request({ method: "GET", path: "/version", timeoutMs: 5000 })
 */
export function createTransport(kubeConfig: KubeConfig): Transport {
  const cluster = kubeConfig.getCurrentCluster();
  if (cluster === null) throw new UnavailableError("NoCluster", `the kubeconfig's current context "${kubeConfig.getCurrentContext()}" names no cluster`);
  const server = cluster.server.replace(/\/+$/, "");
  const secure = server.startsWith("https:");
  const material = secure ? kubeConfig : plainHttpConfig(kubeConfig);
  const send = secure ? httpsRequest : httpRequest;
  // client-node's agents close the connection after every request: a TCP (and TLS) handshake per call, and on a
  // burst of reconcile requests a socket in TIME_WAIT per patch. This one keeps them open between requests. The TLS
  // material stays on each request (so a rotated client certificate takes effect): the agent pools connections by it.
  // Watches keep a connection of their own (client-node's agent): they hold it for minutes anyway, and on Deno a
  // request destroyed while it waits for headers on a pooled connection is still sent later. A proxy's agent is
  // client-node's, kept as it is.
  const keepAlive = cluster.proxyUrl === undefined ? (secure ? new HttpsAgent({ keepAlive: true }) : new HttpAgent({ keepAlive: true })) : undefined;

  async function open(req: HttpRequest, pooled: boolean): Promise<{ res: IncomingMessage; abort: (e: Error) => void; clearTimer: () => void }> {
    const options: RequestOptions = {};
    await material.applyToHTTPSOptions(options);
    if (pooled && keepAlive !== undefined) options.agent = keepAlive;
    const headers: OutgoingHttpHeaders = {};
    for (const [k, v] of Object.entries(options.headers ?? {})) if (v !== undefined) headers[k] = typeof v === "string" ? v.trim() : v;
    headers["accept"] = "application/json";
    headers["user-agent"] = USER_AGENT;
    if (req.body !== undefined) {
      headers["content-type"] = req.contentType ?? "application/json";
      headers["content-length"] = Buffer.byteLength(req.body);
    }
    const url = new URL(server + req.path);
    return await new Promise((resolve, reject) => {
      let settled = false;
      const outgoing = send(url, { ...options, method: req.method, headers }, (res) => {
        settled = true;
        resolve({ res, abort, clearTimer: () => clearTimeout(timer) });
      });
      // Settled here too, not only by the 'error' event: on Deno, destroying a request that waits for its response
      // headers on a kept-alive connection emits nothing, and the caller would wait for ever.
      const abort = (e: Error) => {
        outgoing.destroy(e);
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        reject(req.signal?.aborted === true ? req.signal.reason : wireError(e, server));
      };
      const timer = setTimeout(
        () => abort(new KubeTransportError("Timeout", `no response from ${server} within ${req.timeoutMs}ms`)),
        req.timeoutMs,
      );
      const onAbort = () => abort(req.signal?.reason instanceof Error ? req.signal.reason : new Error("aborted"));
      if (req.signal?.aborted === true) onAbort();
      req.signal?.addEventListener("abort", onAbort, { once: true });
      outgoing.on("close", () => {
        clearTimeout(timer);
        req.signal?.removeEventListener("abort", onAbort);
      });
      outgoing.on("error", (e) => {
        clearTimeout(timer);
        if (settled) return;
        reject(req.signal?.aborted === true ? req.signal.reason : wireError(e, server));
      });
      outgoing.end(req.body);
    });
  }

  return {
    server,
    async request(req) {
      const { res, clearTimer } = await open(req, true);
      try {
        const body = await readBody(res, server);
        return { status: res.statusCode ?? 0, headers: res.headers, body };
      } finally {
        clearTimer();
      }
    },
    async stream(req) {
      const { res, abort, clearTimer } = await open(req, false);
      const status = res.statusCode ?? 0;
      if (status < 200 || status > 299) {
        try {
          return { status, headers: res.headers, body: await readBody(res, server) };
        } finally {
          clearTimer();
        }
      }
      clearTimer();
      let closed = false;
      return {
        status,
        headers: res.headers,
        lines: () => splitLines(res, server, () => closed),
        close: () => {
          closed = true;
          abort(new Error("closed by client"));
        },
      };
    },
  };
}

/**
 * `KubeConfig` refuses to build an agent for an `http://` server unless `insecure-skip-tls-verify` is set. kubectl
 * talks plain HTTP to such servers without it (there is no TLS to verify), so we do too, with a copy of the context
 * that says so.
 */
function plainHttpConfig(kubeConfig: KubeConfig): KubeConfig {
  const cluster = kubeConfig.getCurrentCluster();
  if (cluster === null || cluster.skipTLSVerify) return kubeConfig;
  const copy = new KubeConfig();
  copy.loadFromClusterAndUser({ ...cluster, skipTLSVerify: true }, kubeConfig.getCurrentUser() ?? { name: "anonymous" });
  return copy;
}

async function readBody(res: IncomingMessage, server: string): Promise<string> {
  const chunks: Buffer[] = [];
  try {
    for await (const chunk of res) chunks.push(typeof chunk === "string" ? Buffer.from(chunk) : (chunk as Buffer));
  } catch (e) {
    throw wireError(e, server);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/** Newline-delimited lines of a chunked response; a partial last line is yielded when the stream ends. */
async function* splitLines(res: IncomingMessage, server: string, closedByUs: () => boolean): AsyncGenerator<string, void, undefined> {
  const decoder = new TextDecoder();
  let buffered = "";
  try {
    for await (const chunk of res) {
      buffered += typeof chunk === "string" ? chunk : decoder.decode(chunk as Uint8Array, { stream: true });
      let nl = buffered.indexOf("\n");
      while (nl >= 0) {
        const line = buffered.slice(0, nl).trim();
        buffered = buffered.slice(nl + 1);
        if (line !== "") yield line;
        nl = buffered.indexOf("\n");
      }
    }
  } catch (e) {
    if (closedByUs()) return;
    throw wireError(e, server);
  } finally {
    if (!res.complete && !res.destroyed) res.destroy();
  }
  const rest = (buffered + decoder.decode()).trim();
  if (rest !== "") yield rest;
}

/** Errors from the socket as a `KubeTransportError`, keeping our own timeouts and aborts as they are. */
function wireError(e: unknown, server: string): Error {
  if (e instanceof KubeTransportError) return e;
  if (e instanceof Error && e.name === "AbortError") return e;
  const code = (e as { code?: unknown } | null)?.code;
  const text = e instanceof Error ? e.message : String(e);
  return new KubeTransportError("ConnectionError", `${server}: ${typeof code === "string" && !text.includes(code) ? `${code} ` : ""}${text}`, { cause: e });
}
