/**
 * An HTTPS client for tests that trusts exactly the CA it is given and reports the certificate the server showed:
 * `node:https`, which behaves the same under Node, Bun and Deno (their `fetch` differ in how a CA is passed).
 */
import { request } from "node:https";
import type { TLSSocket } from "node:tls";

export type HttpsGetOptions = {
  port: number;
  path?: string;
  method?: string;
  /** PEM CA(s) to trust; nothing else is trusted. */
  ca: string;
  /** SNI and the name checked against the certificate; omit to connect by IP (127.0.0.1). */
  servername?: string;
  body?: string | Uint8Array;
  headers?: Record<string, string>;
};

export type HttpsResult = { status: number; body: string; headers: Record<string, string | string[] | undefined>; peerSerial: string; peerSubject: string };

/** One request on a new connection; rejects when the TLS handshake or verification fails. */
export function httpsGet(o: HttpsGetOptions): Promise<HttpsResult> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port: o.port,
        path: o.path ?? "/",
        method: o.method ?? "GET",
        ca: o.ca,
        ...(o.servername === undefined ? {} : { servername: o.servername }),
        agent: false,
        headers: o.headers ?? {},
      },
      (res) => {
        const peer = (res.socket as TLSSocket).getPeerCertificate();
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (body += c));
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, body, headers: res.headers, peerSerial: String(peer?.serialNumber ?? "").toUpperCase(), peerSubject: String(peer?.subject?.CN ?? "") }),
        );
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(o.body);
  });
}
