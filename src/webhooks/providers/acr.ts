/**
 * Azure Container Registry webhooks: `action` `push` (image), `chart_push` (Helm chart), `delete` / `chart_delete`
 * (deleted changes), `quarantine` (ignored) and `ping` (`az acr webhook ping`). The image is
 * `request.host/target.repository`; the body `id` identifies the delivery.
 *
 * Authentication: ACR signs nothing; its only mechanism is custom headers. Flux's `acr` type checks nothing (the
 * path is the secret); Fluxgate requires `Authorization: <token>` (or `Bearer <token>`), configured with
 * `az acr webhook create|update --headers "Authorization=<token>"`. Migrating a Flux receiver means adding that header.
 *
 * Charts: ACR's documented `chart_push`/`chart_delete` payloads (legacy Helm repositories, `az acr helm push`) carry
 * no `request`, so the registry host is unknown and they are ignored with that reason; when a `request.host` is there,
 * the chart is addressed as `<host>/<repository>/<chart name>` with its version as tag. Helm 3 charts pushed as OCI
 * artifacts arrive as plain `push` events, which ACR does not tell apart from images.
 */
import { z } from "zod";
import type { ChangeDraft } from "../../events/change-event.ts";
import { authorizationToken } from "../authorization-token.ts";
import { digestSchema, imageOf } from "../image-change.ts";
import { jsonBody, payload } from "../payload.ts";
import type { AuthResult, Classified, Delivery, Provider, ReceiverSecret } from "../provider.ts";

const envelope = z.object({ id: z.string().optional(), action: z.string().min(1) });
const target = z.object({
  repository: z.string().min(1),
  tag: z.string().optional(),
  digest: z.union([z.literal(""), digestSchema]).optional(),
  name: z.string().optional(),
  version: z.string().optional(),
});
const imageEvent = z.object({ target, request: z.object({ host: z.string().min(1) }) });
const chartEvent = z.object({ target, request: z.object({ host: z.string().min(1) }).optional() });

function nonEmpty(s: string | undefined): string | undefined {
  return s === undefined || s === "" ? undefined : s;
}

function imageChange(body: unknown, deleted: boolean): ChangeDraft {
  const p = payload(imageEvent, body, "ACR");
  const image = imageOf(`${p.request.host}/${p.target.repository}`, { tag: nonEmpty(p.target.tag), digest: nonEmpty(p.target.digest) }, "target.repository");
  return { kind: "oci", image, deleted };
}

function chartChange(body: unknown, deleted: boolean): ChangeDraft | undefined {
  const p = payload(chartEvent, body, "ACR");
  if (p.request === undefined) return undefined;
  const chart = nonEmpty(p.target.name);
  const repository = `${p.request.host}/${p.target.repository}${chart === undefined ? "" : `/${chart}`}`;
  // ACR reports the version of a chart file, `5.4.0.tgz`; the chart's version is what precedes `.tgz`.
  const version = nonEmpty(p.target.version?.replace(/\.tgz$/, "")) ?? nonEmpty(p.target.tag);
  const image = imageOf(repository, { tag: version, digest: nonEmpty(p.target.digest) }, "target.repository");
  return { kind: "helm", image, deleted };
}

export const acr: Provider = {
  name: "acr",
  fluxTypes: ["acr"],

  authenticate(d: Delivery, secret: ReceiverSecret): AuthResult {
    return authorizationToken(d.headers, secret.token, 'add the custom header "Authorization=<receiver token>" to the ACR webhook (az acr webhook update --headers)');
  },

  classify(d: Delivery): Classified {
    const body = jsonBody(d.body);
    const { id, action } = payload(envelope, body, "ACR");
    const ids = id === undefined || id === "" ? {} : { deliveryId: id };
    const eventType = action;
    switch (action) {
      case "ping":
        return { type: "ping", eventType, ...ids, reason: "ACR ping: the webhook reaches Fluxgate" };
      case "push":
      case "delete":
        return { type: "changes", eventType, ...ids, changes: [imageChange(body, action === "delete")] };
      case "chart_push":
      case "chart_delete": {
        const change = chartChange(body, action === "chart_delete");
        if (change === undefined) return { type: "ignored", eventType, ...ids, reason: `ACR ${action} without request.host: the registry of the chart is unknown` };
        return { type: "changes", eventType, ...ids, changes: [change] };
      }
      case "quarantine":
        return { type: "ignored", eventType, ...ids, reason: "ACR quarantine: the image is not released yet" };
      default:
        return { type: "ignored", eventType, ...ids, reason: `ACR action ${action} does not change an image` };
    }
  },
};
