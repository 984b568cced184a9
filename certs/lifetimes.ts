/** How long the certificates Fluxgate issues live; apart from `issue.ts` so `--help` texts need no X.509 code. */

/** Default CA lifetime: 10 years, as cert-controller; the CA rotates only inside its renewal window. */
export const CA_VALIDITY_DAYS = 3650;
/** Default serving certificate lifetime: 1 year, as cert-controller. */
export const SERVING_VALIDITY_DAYS = 365;
