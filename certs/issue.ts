/**
 * Issues the admission webhook's own CA and serving certificate (ECDSA P-256, as cert-controller and Kyverno do for
 * the same job) and reads back what a certificate covers and when it is due for renewal. No I/O: the clock comes in
 * as `now`; `certs/store.ts` decides what to keep on disk.
 */
import { isIP } from "node:net";
import { FluxgateError } from "../src/errors.ts";
import { CA_VALIDITY_DAYS, SERVING_VALIDITY_DAYS } from "./lifetimes.ts";
import { x509 } from "./x509.ts";

/** A certificate and its private key, both PEM ending in a newline (the key PKCS#8, `BEGIN PRIVATE KEY`). */
export type CertPair = { certPem: string; keyPem: string };

export type IssueCaOptions = {
  /** Default `fluxgate-ca`. Only for humans: clients trust the CA through `caBundle`, not by name. */
  commonName?: string;
  /** Default `CA_VALIDITY_DAYS` (3650). */
  validityDays?: number;
  now?: Date;
};

export type IssueServingOptions = {
  /** The first one also becomes the subject CN (clients check only SANs; CN helps humans reading the cert). */
  dnsNames: string[];
  ipAddresses: string[];
  /** Default `SERVING_VALIDITY_DAYS` (365); the result never outlives the CA. */
  validityDays?: number;
  now?: Date;
};

/** What a certificate says about itself; IPs in canonical form (`::1`, never `0:0:0:0:0:0:0:1`). */
export type CertDescription = {
  subject: string;
  issuer: string;
  notBefore: Date;
  notAfter: Date;
  dnsNames: string[];
  ipAddresses: string[];
  /** Hexadecimal, lower case. */
  serial: string;
};

const DAY_MS = 24 * 60 * 60 * 1000;
export { CA_VALIDITY_DAYS, SERVING_VALIDITY_DAYS };
/** notBefore is set this far in the past so a client whose clock runs a little behind still accepts a fresh cert. */
export const CLOCK_SKEW_MS = 5 * 60 * 1000;
const ECDSA_P256 = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
// RFC 5280 caps CN at 64 characters; a longer first name stays in the SANs only.
const MAX_CN_LENGTH = 64;

/**
 * The names kube-apiserver and in-cluster clients use for a Service, shortest first. `<svc>.<ns>.svc` is the one
 * the apiserver sends as SNI and must be present.
 * @example servingDnsNames("fluxgate", "fluxgate-system")
 * // ["fluxgate", "fluxgate.fluxgate-system", "fluxgate.fluxgate-system.svc", "fluxgate.fluxgate-system.svc.cluster.local"]
 */
export function servingDnsNames(service: string, namespace: string): string[] {
  return [service, `${service}.${namespace}`, `${service}.${namespace}.svc`, `${service}.${namespace}.svc.cluster.local`];
}

/**
 * A new self-signed CA that may sign leaf certificates only (path length 0).
 * @example const ca = await issueCa({ now: new Date() }) // { certPem: "-----BEGIN CERTIFICATE-----…", keyPem: "…" }
 */
export async function issueCa(options: IssueCaOptions = {}): Promise<CertPair> {
  const now = options.now ?? new Date();
  const keys = await generateKeys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: [{ CN: [options.commonName ?? "fluxgate-ca"] }],
    notBefore: new Date(now.getTime() - CLOCK_SKEW_MS),
    notAfter: new Date(now.getTime() + (options.validityDays ?? CA_VALIDITY_DAYS) * DAY_MS),
    keys,
    signingAlgorithm: ECDSA_P256,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: pemFile(cert.toString("pem")), keyPem: await exportKey(keys.privateKey) };
}

/**
 * A serving certificate for the given names, signed by `ca` (a pair from `issueCa`).
 * @example await issueServingCert(ca, { dnsNames: servingDnsNames("fluxgate", "fluxgate-system"), ipAddresses: ["127.0.0.1"] })
 */
export async function issueServingCert(ca: CertPair, options: IssueServingOptions): Promise<CertPair> {
  const now = options.now ?? new Date();
  if (options.dnsNames.length === 0 && options.ipAddresses.length === 0) {
    throw new FluxgateError("InvalidSubjectAltName", "a serving certificate needs at least one DNS name or IP address");
  }
  const ips = options.ipAddresses.map((ip) => {
    const canonical = canonicalIp(ip);
    if (canonical === undefined) throw new FluxgateError("InvalidSubjectAltName", `"${ip}" is not an IPv4 or IPv6 address`);
    return canonical;
  });
  const caCert = parseFirstCert(ca.certPem);
  const caKey = await importCaKey(ca.keyPem);
  const keys = await generateKeys();
  const cn = options.dnsNames[0] ?? ips[0] ?? "";
  // A leaf that outlives its CA is rejected by some verifiers; clamp rather than issue something half-usable.
  const notBefore = Math.max(now.getTime() - CLOCK_SKEW_MS, caCert.notBefore.getTime());
  const notAfter = Math.min(now.getTime() + (options.validityDays ?? SERVING_VALIDITY_DAYS) * DAY_MS, caCert.notAfter.getTime());
  const withCn = cn.length <= MAX_CN_LENGTH;
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: withCn ? [{ CN: [cn] }] : [],
    issuer: caCert.subjectName,
    notBefore: new Date(notBefore),
    notAfter: new Date(notAfter),
    publicKey: keys.publicKey,
    signingKey: caKey,
    signingAlgorithm: ECDSA_P256,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      // ECDSA keys sign the handshake; keyEncipherment only means something for RSA key transport.
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      // RFC 5280 §4.2.1.6: with an empty subject the SAN extension must be critical.
      new x509.SubjectAlternativeNameExtension(
        [...options.dnsNames.map((value) => ({ type: "dns" as const, value })), ...ips.map((value) => ({ type: "ip" as const, value }))],
        !withCn,
      ),
      await authorityKeyId(caCert),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: pemFile(cert.toString("pem")), keyPem: await exportKey(keys.privateKey) };
}

/**
 * Reads the first certificate of a PEM (a `tls.crt` may carry the chain after it). Throws `FluxgateError` with
 * reason `InvalidCertificate` when there is none or it does not parse.
 * @example describeCert(pem).dnsNames // ["fluxgate", "fluxgate.fluxgate-system", …]
 */
export function describeCert(pem: string): CertDescription {
  const cert = parseFirstCert(pem);
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
  const names = san?.names.items ?? [];
  return {
    subject: cert.subject,
    issuer: cert.issuer,
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    dnsNames: names.filter((n) => n.type === "dns").map((n) => n.value),
    ipAddresses: names.filter((n) => n.type === "ip").map((n) => canonicalIp(n.value) ?? n.value),
    serial: cert.serialNumber.toLowerCase(),
  };
}

/**
 * When a certificate becomes due for renewal: `renewBeforeMs` or one third of its lifetime before `notAfter`,
 * whichever is earlier. The third is cert-manager's default rule; it keeps renewal well ahead of expiry however long
 * the certificate lives, and `renewBeforeMs` can only move renewal earlier, never close to expiry.
 * @example renewalTime({ notBefore, notAfter }, 30 * 24 * 3600_000) // for a 365-day cert: ~122 days before notAfter
 */
export function renewalTime(cert: { notBefore: Date; notAfter: Date }, renewBeforeMs = 0): Date {
  const lifetime = cert.notAfter.getTime() - cert.notBefore.getTime();
  return new Date(cert.notAfter.getTime() - Math.max(renewBeforeMs, lifetime / 3));
}

/**
 * Whether the certificate in `pem` should be replaced at `now`: it has reached its `renewalTime`, or it is not
 * valid yet (the clock went back, or it came from a machine whose clock runs ahead), which no client would accept.
 * @example needsRenewal(certPem, new Date(), 0) // false for a fresh 365-day cert
 */
export function needsRenewal(pem: string, now: Date, renewBeforeMs = 0): boolean {
  const cert = describeCert(pem);
  return now.getTime() >= renewalTime(cert, renewBeforeMs).getTime() || now.getTime() < cert.notBefore.getTime();
}

/**
 * An IP address in the form URL parsers and `describeCert` print (`::1`, `fe80::1`), or undefined if `ip` is not one.
 * @example canonicalIp("0:0:0:0:0:0:0:1") // "::1"
 */
export function canonicalIp(ip: string): string | undefined {
  const version = isIP(ip);
  if (version === 4) return ip;
  // The WHATWG URL parser compresses and lower-cases IPv6 identically on every runtime.
  if (version === 6) return new URL(`http://[${ip}]/`).hostname.slice(1, -1);
  return undefined;
}

/** The first certificate in a PEM, parsed. Shared with `store.ts`, which needs the CA's key and subject. */
export function parseFirstCert(pem: string): InstanceType<typeof x509.X509Certificate> {
  let der: ArrayBuffer | undefined;
  try {
    der = x509.PemConverter.decodeWithHeaders(pem).find((block) => block.type === "CERTIFICATE")?.rawData;
  } catch (cause) {
    throw new FluxgateError("InvalidCertificate", `not a PEM certificate: ${errorText(cause)}`, { cause });
  }
  if (der === undefined) throw new FluxgateError("InvalidCertificate", "no CERTIFICATE block in the PEM");
  try {
    return new x509.X509Certificate(der);
  } catch (cause) {
    throw new FluxgateError("InvalidCertificate", `the CERTIFICATE block does not parse: ${errorText(cause)}`, { cause });
  }
}

async function generateKeys(): Promise<CryptoKeyPair> {
  // Extractable, because the private key is written to tls.key / ca.key.
  return (await crypto.subtle.generateKey(ECDSA_P256, true, ["sign", "verify"])) as CryptoKeyPair;
}

async function exportKey(key: CryptoKey): Promise<string> {
  return pemFile(x509.PemConverter.encode(await crypto.subtle.exportKey("pkcs8", key), "PRIVATE KEY"));
}

// The library ends PEM without a newline; files (and `cat tls.crt ca.crt > chain.crt`) want one.
const pemFile = (pem: string): string => (pem.endsWith("\n") ? pem : `${pem}\n`);

async function importCaKey(keyPem: string): Promise<CryptoKey> {
  try {
    const der = x509.PemConverter.decodeWithHeaders(keyPem).find((block) => block.type === "PRIVATE KEY")?.rawData;
    if (der === undefined) throw new Error("no PRIVATE KEY block");
    return await crypto.subtle.importKey("pkcs8", der, ECDSA_P256, false, ["sign"]);
  } catch (cause) {
    throw new FluxgateError("InvalidCertificate", `the CA key is not a PKCS#8 ECDSA P-256 key: ${errorText(cause)}`, { cause });
  }
}

// Copy the CA's own subject key id when it has one, so the pair links even for a CA that computed its id differently.
async function authorityKeyId(ca: InstanceType<typeof x509.X509Certificate>) {
  const ski = ca.getExtension(x509.SubjectKeyIdentifierExtension);
  return ski === null ? x509.AuthorityKeyIdentifierExtension.create(ca.publicKey) : new x509.AuthorityKeyIdentifierExtension(ski.keyId);
}

/** 16 random bytes, first byte in 0x40–0x7f: positive (RFC 5280) and always 32 hex digits. */
function randomSerial(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[0] = ((bytes[0] ?? 0) & 0x3f) | 0x40;
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

const errorText = (e: unknown): string => (e instanceof Error ? e.message : String(e));
