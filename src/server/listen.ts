/**
 * Serving a fetch handler on the runtime's own server, plain or TLS, with certificates swapped while it runs.
 *
 * - Node: `node:https`, certificate swapped in place with `setSecureContext`.
 * - Deno: plain listeners on `Deno.serve`; TLS listeners on Deno's `node:https`, which also swaps in place.
 *   (`Deno.serve` cannot change its certificate, and a second listener on the same port needs `reusePort`, which
 *   is unstable for TLS in Deno 2 and resets connections queued on the closing listener.)
 * - Bun: `Bun.serve`, which cannot change its certificate either (`server.reload` ignores `tls`): a new listener is
 *   started on the same port with `reusePort`, then the old one stops accepting and drains its in-flight requests.
 * All three through `srvx`, which gives every runtime the same `Request`/`Response` surface.
 */
import type { Server, ServerOptions } from "srvx";
import { UnavailableError } from "../errors.ts";
import { runtime } from "../version.ts";

export type TlsPair = { cert: string; key: string };

export type ListenOptions = {
  /** For messages: `admission`, `receiver`, `metrics`, `health`. */
  name: string;
  host: string;
  port: number;
  fetch: (request: Request) => Response | Promise<Response>;
  /** Serve HTTPS with this certificate; `setTls` swaps it later. */
  tls?: TlsPair;
  /** Runtime-level backstop against huge bodies; handlers enforce the configured limit with a clear 413 first. */
  maxRequestBodySize: number;
  /** Idle keep-alive / header timeout in ms where the runtime supports one. */
  idleTimeoutMs: number;
};

export type Listener = {
  name: string;
  /** `https://127.0.0.1:9443` — with the real port when 0 was asked for. */
  url: string;
  port: number;
  secure: boolean;
  /** Serve new connections with another certificate; connections already open keep theirs. */
  setTls(pair: TlsPair): Promise<void>;
  /** Stop accepting; resolves when in-flight requests are done. `force` closes open connections at once. */
  close(force?: boolean): Promise<void>;
};

type Adapter = (options: ServerOptions) => Server;

async function adapter(kind: "node" | "bun" | "deno"): Promise<Adapter> {
  // Imported by path so each runtime loads only the adapter it uses (srvx/bun references `Bun`, srvx/deno `Deno`).
  if (kind === "bun") return (await import("srvx/bun")).serve as unknown as Adapter;
  if (kind === "deno") return (await import("srvx/deno")).serve as unknown as Adapter;
  return (await import("srvx/node")).serve as unknown as Adapter;
}

/**
 * Starts one listener; rejects with `UnavailableError` when the address cannot be bound.
 * @example const l = await listen({ name: "health", host: "0.0.0.0", port: 9440, fetch: app.fetch, maxRequestBodySize: 1 << 20, idleTimeoutMs: 60_000 })
 */
export async function listen(options: ListenOptions): Promise<Listener> {
  const rt = runtime().name;
  const secure = options.tls !== undefined;
  const kind = rt === "bun" ? "bun" : rt === "deno" && !secure ? "deno" : "node";
  const serve = await adapter(kind);
  const idleSeconds = Math.max(1, Math.min(255, Math.round(options.idleTimeoutMs / 1000)));

  const start = async (port: number, tls: TlsPair | undefined): Promise<Server> => {
    const server = serve({
      fetch: options.fetch,
      hostname: options.host,
      port,
      silent: true,
      gracefulShutdown: false, // the serve command owns SIGTERM
      maxRequestBodySize: options.maxRequestBodySize,
      // Bun needs reusePort on every listener of a port for the certificate swap below.
      reusePort: kind === "bun" && tls !== undefined,
      ...(tls === undefined ? {} : { tls: { cert: tls.cert, key: tls.key } }),
      node: { http2: false, keepAliveTimeout: options.idleTimeoutMs, headersTimeout: Math.min(options.idleTimeoutMs, 60_000) },
      bun: { idleTimeout: idleSeconds },
    });
    try {
      await server.ready();
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? (e as Error).name;
      throw new UnavailableError("ListenFailed", `cannot listen for ${options.name} on ${options.host}:${port}: ${code === "EADDRINUSE" || code === "AddrInUse" ? "address already in use" : String((e as Error).message ?? e)}`, { cause: e });
    }
    return server;
  };

  let server = await start(options.port, options.tls);
  const url = new URL(server.url ?? `${secure ? "https" : "http"}://${options.host}:${options.port}`);
  const port = Number(url.port);
  const draining = new Set<Server>();
  let swapping: Promise<void> = Promise.resolve();

  const setTls = (pair: TlsPair): Promise<void> => {
    if (!secure) return Promise.reject(new Error(`listener ${options.name} is not TLS`));
    swapping = swapping.then(async () => {
      if (kind === "node") {
        const node = (server as unknown as { node?: { server?: { setSecureContext?: (o: TlsPair) => void } } }).node?.server;
        if (node?.setSecureContext === undefined) throw new Error("this runtime's node:https has no setSecureContext");
        node.setSecureContext({ cert: pair.cert, key: pair.key });
        return;
      }
      const old = server;
      server = await start(port, pair);
      draining.add(old);
      void old.close(false).finally(() => draining.delete(old));
    });
    return swapping;
  };

  return {
    name: options.name,
    url: url.origin,
    port,
    secure,
    setTls,
    async close(force = false) {
      await swapping.catch(() => {});
      await Promise.all([server, ...draining].map((s) => s.close(force)));
    },
  };
}
