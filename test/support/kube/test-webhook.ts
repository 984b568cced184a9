/**
 * An HTTPS admission webhook for tests: `node:https` on 127.0.0.1, port 0 (the same under Node, Bun and Deno),
 * recording every AdmissionReview it receives and answering with what the test's handler returns.
 */
import { Buffer } from "node:buffer";
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from "node:http";
import { createServer } from "node:https";
import type { Socket } from "node:net";

export type ReceivedReview = {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: IncomingHttpHeaders;
  /** The parsed body (an `AdmissionReview`). */
  review: Record<string, unknown>;
};

/** A JSON answer (status 200 by default), a text answer, or no answer at all until the server closes. */
export type WebhookAnswer = { status?: number; json?: unknown; text?: string } | { hang: true };

export type TestWebhook = {
  port: number;
  received: ReceivedReview[];
  close(): Promise<void>;
};

/** `request.uid` of a received review. */
export function reviewUid(review: Record<string, unknown>): string {
  return String((review["request"] as Record<string, unknown>)["uid"]);
}

/** A well-formed v1 response to `review`: `allowed`, plus optional patch (encoded here), status, warnings, annotations. */
export function respond(
  review: Record<string, unknown>,
  response: { allowed: boolean; patch?: unknown[]; status?: Record<string, unknown>; warnings?: string[]; auditAnnotations?: Record<string, string> },
): WebhookAnswer {
  const { patch, ...rest } = response;
  const body: Record<string, unknown> = { uid: reviewUid(review), ...rest };
  if (patch !== undefined) {
    body["patchType"] = "JSONPatch";
    body["patch"] = Buffer.from(JSON.stringify(patch)).toString("base64");
  }
  return { json: { apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview", response: body } };
}

/** Starts a webhook serving `tls`; `handle` sees each parsed review (and the request) and says what to answer. */
export async function startTestWebhook(
  tls: { certPem: string; keyPem: string },
  handle: (review: Record<string, unknown>, received: ReceivedReview) => WebhookAnswer | Promise<WebhookAnswer>,
): Promise<TestWebhook> {
  const received: ReceivedReview[] = [];
  const sockets = new Set<Socket>();
  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const url = new URL(req.url ?? "/", "https://webhook");
      const r: ReceivedReview = {
        method: req.method ?? "",
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        headers: req.headers,
        review: JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}") as Record<string, unknown>,
      };
      received.push(r);
      void Promise.resolve(handle(r.review, r)).then((answer) => {
        if ("hang" in answer) return;
        const text = answer.json !== undefined ? JSON.stringify(answer.json) : (answer.text ?? "");
        res.writeHead(answer.status ?? 200, { "content-type": answer.json !== undefined ? "application/json" : "text/plain; charset=utf-8" });
        res.end(text);
      });
    });
  };
  const server = createServer({ cert: tls.certPem, key: tls.keyPem }, onRequest);
  for (const event of ["connection", "secureConnection"]) {
    server.on(event, (s: Socket) => {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
    });
  }
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  return {
    port: typeof address === "object" && address !== null ? address.port : 0,
    received,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
