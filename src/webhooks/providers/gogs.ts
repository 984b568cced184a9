/**
 * Gogs: Gitea's ancestor, same payloads (tags arrive only as `create`, deletions only as `delete`), signed in
 * `X-Gogs-Signature` with no `X-Hub-Signature*` at all, so Flux's `github` type rejects it and Flux users fall back to
 * `generic`. Hence no Flux type here: a Fluxgate-only receiver type, `gogs`.
 */
import type { Provider } from "../provider.ts";
import { giteaFamilyProvider } from "./gitea-family.ts";

export const gogs: Provider = giteaFamilyProvider({
  name: "gogs",
  label: "Gogs",
  // Flux's github type cannot verify Gogs (it signs only X-Gogs-Signature); Fluxgate can, so a github receiver takes it.
  fluxTypes: ["github"],
  eventHeader: "X-Gogs-Event",
  deliveryHeader: "X-Gogs-Delivery",
  signatureHeader: "X-Gogs-Signature",
  // Gitea and Forgejo send the X-Gogs-* headers too.
  recognises: (d) => d.headers.has("x-gogs-event") && !d.headers.has("x-gitea-event") && !d.headers.has("x-forgejo-event"),
});
