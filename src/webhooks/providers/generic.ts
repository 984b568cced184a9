/**
 * Flux's `generic` type: any method, any body, no authentication (the `/hook/<sha256>` path is the only secret), and
 * nothing in the delivery names a source. So a delivery is one `generic` change: "every resource of this
 * receiver", Flux's own behaviour. The body is neither read nor required to be JSON.
 */
import type { AuthResult, Classified, Provider } from "../provider.ts";

/** What every authentic `generic` or `generic-hmac` delivery means: reconcile all the receiver's resources. */
export function genericDelivery(): Classified {
  return { type: "changes", eventType: "generic", changes: [{ kind: "generic", deleted: false }] };
}

export const generic: Provider = {
  name: "generic",
  fluxTypes: ["generic"],

  /** Always authentic: Flux's `generic` type checks nothing; the URL is the secret (use `generic-hmac` to sign). */
  authenticate(): AuthResult {
    return { ok: true };
  },

  classify: genericDelivery,
};
