/**
 * Gitea: `push` (branches and tags), tag `create`, `delete`, and "Test Delivery" as a ping; hex HMAC-SHA256 in
 * `X-Gitea-Signature`. Gitea also sends GitHub's headers, so Flux users point it at a `github` Receiver; this provider
 * takes those deliveries (github.ts leaves anything with `X-Gitea-Event` alone) and verifies the form content type too.
 */
import type { Provider } from "../provider.ts";
import { giteaFamilyProvider } from "./gitea-family.ts";

export const gitea: Provider = giteaFamilyProvider({
  name: "gitea",
  label: "Gitea",
  fluxTypes: ["github"],
  eventHeader: "X-Gitea-Event",
  deliveryHeader: "X-Gitea-Delivery",
  signatureHeader: "X-Gitea-Signature",
  // Forgejo sends every Gitea header as well as its own.
  recognises: (d) => d.headers.has("x-gitea-event") && !d.headers.has("x-forgejo-event"),
});
