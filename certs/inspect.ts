/**
 * What a serving process needs to know of a certificate it is given: when it expires and whether a key is its own.
 * `node:crypto` only, so `serve` with mounted certificate files never loads `@peculiar/x509` (about 18 MiB of RSS on
 * Bun and Node); issuing (`issue.ts`, `store.ts`) still does.
 */
import { Buffer } from "node:buffer";
import { createPrivateKey, createPublicKey, X509Certificate } from "node:crypto";
import { FluxgateError } from "../src/errors.ts";

const FIRST_CERT = /-----BEGIN CERTIFICATE-----[^-]*-----END CERTIFICATE-----/;

/**
 * The first certificate of a PEM (a `tls.crt` may carry its chain after it, even without a line break between
 * blocks), parsed. Throws `FluxgateError` with reason `InvalidCertificate` when there is none or it does not parse.
 * @example firstCertificate(readFileSync("tls.crt", "utf8")).validToDate
 */
export function firstCertificate(pem: string): X509Certificate {
  const block = FIRST_CERT.exec(pem)?.[0];
  if (block === undefined) throw new FluxgateError("InvalidCertificate", "no CERTIFICATE block in the PEM");
  try {
    return new X509Certificate(block);
  } catch (cause) {
    throw new FluxgateError("InvalidCertificate", `the CERTIFICATE block does not parse: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}

/**
 * `notAfter` of the first certificate in `pem`.
 * @example certNotAfter(certPem).toISOString() // "2027-11-25T13:06:53.000Z"
 */
export function certNotAfter(pem: string): Date {
  return new Date(Date.parse(firstCertificate(pem).validTo));
}

/**
 * Whether `keyPem` is the private key of the (first) certificate in `certPem`, by comparing public keys. Any key
 * type and encoding OpenSSL reads (PKCS#8, SEC1, PKCS#1) works, so a cert-manager Secret can be checked too;
 * unparseable input gives false. Check before swapping a reloaded pair into a server.
 * @example if (!(await keyMatchesCert(cert, key))) return retryLater()
 */
export async function keyMatchesCert(certPem: string, keyPem: string): Promise<boolean> {
  try {
    const fromCert = firstCertificate(certPem).publicKey.export({ type: "spki", format: "der" });
    const fromKey = createPublicKey(createPrivateKey(keyPem)).export({ type: "spki", format: "der" });
    return Buffer.from(fromCert).equals(fromKey);
  } catch {
    return false;
  }
}
