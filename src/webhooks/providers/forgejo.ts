/**
 * Forgejo (the Gitea fork behind Codeberg): Gitea's payloads and events, signed in `X-Forgejo-Signature`, delivered
 * with every Gitea and GitHub header besides its own. Flux users point it at a `github` Receiver.
 */
import type { Provider } from "../provider.ts";
import { giteaFamilyProvider } from "./gitea-family.ts";

export const forgejo: Provider = giteaFamilyProvider({
  name: "forgejo",
  label: "Forgejo",
  fluxTypes: ["github"],
  eventHeader: "X-Forgejo-Event",
  deliveryHeader: "X-Forgejo-Delivery",
  signatureHeader: "X-Forgejo-Signature",
  recognises: (d) => d.headers.has("x-forgejo-event"),
});
