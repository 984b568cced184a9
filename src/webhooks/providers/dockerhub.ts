/**
 * Docker Hub repository webhooks: a push is the only event, with the tag but no digest. Docker Hub signs nothing and
 * sends no credentials, so there is nothing to verify: the unguessable `/hook/<sha256>` path is the only secret
 * (as with Flux's `dockerhub` type). Treat these events as hints: the worker re-resolves the tag at the registry.
 */
import { z } from "zod";
import { imageOf } from "../image-change.ts";
import { jsonBody, payload } from "../payload.ts";
import type { AuthResult, Classified, Delivery, Provider } from "../provider.ts";

const pushPayload = z.object({
  push_data: z.object({ tag: z.string().min(1) }),
  repository: z.object({ repo_name: z.string().regex(/^[^/\s]+(\/[^/\s]+)*$/, "is not a repository name like namespace/name") }),
});

export const dockerhub: Provider = {
  name: "dockerhub",
  fluxTypes: ["dockerhub"],

  /** Always authentic: Docker Hub offers no signature, token or header to check; the URL is the secret. */
  authenticate(): AuthResult {
    return { ok: true };
  },

  classify(d: Delivery): Classified {
    const p = payload(pushPayload, jsonBody(d.body), "Docker Hub push");
    const image = imageOf(`docker.io/${p.repository.repo_name}`, { tag: p.push_data.tag }, "repository.repo_name");
    return { type: "changes", eventType: "push", changes: [{ kind: "oci", image, deleted: false }] };
  },
};
