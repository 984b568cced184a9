/**
 * A scripted stand-in for kube-apiserver, for exact fault sequences (a 429 then a 200, a watch that ends, a reset
 * connection): each request takes the first matching scripted answer, and every request is recorded.
 * `node:http` (or `node:https` with `tls`) on 127.0.0.1, port 0; it runs the same under Node, Bun and Deno.
 */
import { createServer as createHttpServer } from "node:http";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { Socket } from "node:net";

export type RecordedRequest = {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: Record<string, string | string[] | undefined>;
  body: string;
};

/** One scripted answer. */
export type FakeAnswer =
  /** A response; `json` is sent as `application/json`, `text` as `text/plain`. */
  | { status: number; headers?: Record<string, string>; json?: unknown; text?: string }
  /** Headers never come; the socket stays open until the client gives up (or the server closes). */
  | { hang: true }
  /** The connection is destroyed without a response. */
  | { reset: true }
  /** A 200 watch stream: one JSON line per event, each split in two chunks; then the stream ends (or stays open). */
  | { events: unknown[]; holdOpen?: boolean };

export type FakeRoute = {
  method?: string;
  /** Matches the path (without query) exactly, or by RegExp. */
  path?: string | RegExp;
  /** Extra condition, e.g. on the query. */
  when?: (req: RecordedRequest) => boolean;
  answer: FakeAnswer | ((req: RecordedRequest) => FakeAnswer);
  /** How many requests this route answers; default 1. */
  times?: number;
};

export type FakeApi = {
  url: string;
  port: number;
  requests: RecordedRequest[];
  /** Connections accepted so far (TCP, or TLS when serving TLS). */
  connections(): number;
  /** Adds routes; earlier routes win while they have uses left. */
  on(...routes: FakeRoute[]): void;
  /** Forgets every route and recorded request (between tests). */
  reset(): void;
  /** Streams still open (`holdOpen` watches): write more events or end them. */
  openWatches(): Array<{ send(event: unknown): void; end(): void }>;
  close(): Promise<void>;
};

/** A Status body as kube-apiserver writes it. */
export function statusBody(code: number, reason: string, message: string, details?: object): object {
  return { kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message, reason, ...(details === undefined ? {} : { details }), code };
}

export async function startFakeApi(options: { tls?: { certPem: string; keyPem: string } } = {}): Promise<FakeApi> {
  const routes: Array<FakeRoute & { left: number }> = [];
  const requests: RecordedRequest[] = [];
  const sockets = new Set<Socket>();
  let connections = 0;
  const watches = new Set<ServerResponse>();

  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const url = new URL(req.url ?? "/", "http://fake");
      const recorded: RecordedRequest = {
        method: req.method ?? "GET",
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        headers: req.headers,
        body: Buffer.concat(chunks).toString("utf8"),
      };
      requests.push(recorded);
      const route = routes.find(
        (r) =>
          r.left > 0 &&
          (r.method === undefined || r.method === recorded.method) &&
          (r.path === undefined || (typeof r.path === "string" ? r.path === recorded.path : r.path.test(recorded.path))) &&
          (r.when === undefined || r.when(recorded)),
      );
      if (route === undefined) {
        res.writeHead(404, { "content-type": "application/json" });
        res.end(JSON.stringify(statusBody(404, "NotFound", `fake API: nothing scripted for ${recorded.method} ${req.url}`)));
        return;
      }
      route.left--;
      const answer = typeof route.answer === "function" ? route.answer(recorded) : route.answer;
      if ("hang" in answer) return;
      if ("reset" in answer) {
        req.socket.destroy();
        return;
      }
      if ("events" in answer) {
        res.writeHead(200, { "content-type": "application/json", "transfer-encoding": "chunked" });
        watches.add(res);
        res.on("close", () => watches.delete(res));
        void (async () => {
          for (const e of answer.events) await sendSplit(res, e);
          if (answer.holdOpen !== true) res.end();
        })();
        return;
      }
      const headers: Record<string, string> = { ...answer.headers };
      let body = "";
      if (answer.json !== undefined) {
        headers["content-type"] ??= "application/json";
        body = JSON.stringify(answer.json);
      } else if (answer.text !== undefined) {
        headers["content-type"] ??= "text/plain; charset=utf-8";
        body = answer.text;
      }
      res.writeHead(answer.status, headers);
      res.end(body);
    });
  };

  const server = options.tls === undefined ? createHttpServer(handler) : createHttpsServer({ cert: options.tls.certPem, key: options.tls.keyPem }, handler);
  server.on("connection", (s: Socket) => {
    if (options.tls === undefined) connections++;
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  server.on("secureConnection", (s: Socket) => {
    connections++;
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  return {
    url: `${options.tls === undefined ? "http" : "https"}://127.0.0.1:${port}`,
    port,
    requests,
    connections: () => connections,
    on(...more) {
      for (const r of more) routes.push({ ...r, left: r.times ?? 1 });
    },
    reset() {
      routes.length = 0;
      requests.length = 0;
    },
    openWatches: () =>
      [...watches].map((res) => ({
        send: (event: unknown) => void sendSplit(res, event),
        end: () => res.end(),
      })),
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Writes one event line in two chunks, so the client has to join partial lines. */
async function sendSplit(res: ServerResponse, event: unknown): Promise<void> {
  const line = `${JSON.stringify(event)}\n`;
  const cut = Math.floor(line.length / 2);
  res.write(line.slice(0, cut));
  await new Promise((r) => setTimeout(r, 5));
  res.write(line.slice(cut));
}
