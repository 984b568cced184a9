/**
 * Keeps a self-managed CA and serving certificate in one directory, under the file names of a Kubernetes TLS Secret
 * and cert-controller (`ca.crt`, `ca.key`, `tls.crt`, `tls.key`), and issues or rotates them when they are missing,
 * broken or due. One writer per directory: two processes rotating the same directory at once can interleave renames.
 */
import { Buffer } from "node:buffer";
import { mkdir, open, readFile, rename, rm } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { FluxgateError, UnavailableError } from "../src/errors.ts";
import { keyMatchesCert } from "./inspect.ts";
import { canonicalIp, describeCert, issueCa, issueServingCert, parseFirstCert, renewalTime, servingDnsNames } from "./issue.ts";
import type { CertDescription, CertPair } from "./issue.ts";
import { x509 } from "./x509.ts";

/** What `ensureCerts` had to do: nothing, a new serving pair, or a new CA too (then `caBundle` must be re-patched). */
export type Issued = "none" | "serving" | "ca+serving";

export type EnsureCertsOptions = {
  /** The Service kube-apiserver calls; with `namespace` it gives the four names of `servingDnsNames`. */
  service: string;
  namespace: string;
  /** Added to the Service names. Default `["localhost"]`, for port-forwards and local runs. */
  extraDnsNames?: string[];
  /** Default `["127.0.0.1", "::1"]`. */
  extraIps?: string[];
  now?: Date;
  /** Default 3650. */
  caValidityDays?: number;
  /** Default 365. */
  certValidityDays?: number;
  /** Renew earlier than one third of the lifetime before expiry (see `renewalTime`); applies to the CA too. Default 0. */
  renewBeforeMs?: number;
  /** Reissue the serving certificate even if it is fine (the CA is kept if usable). */
  force?: boolean;
};

export type EnsuredCerts = {
  caFile: string;
  certFile: string;
  keyFile: string;
  caPem: string;
  certPem: string;
  issued: Issued;
  /** Why, for a human: what was wrong with the old files, or until when the kept ones are good. */
  reason: string;
  /** Expiry of the serving certificate now on disk. */
  notAfter: Date;
};

/** The file names in the directory, as in a `kubernetes.io/tls` Secret plus cert-controller's `ca.*`. */
export const CERT_FILE_NAMES = { ca: "ca.crt", caKey: "ca.key", cert: "tls.crt", key: "tls.key" } as const;

/**
 * Makes sure `dir` holds a CA and a serving certificate for the Service that are usable at `now`, issuing what is
 * missing, unparseable, mismatched, lacking a wanted name or due for renewal. The CA is kept whenever it is usable,
 * so `caBundle` in the webhook configurations stays valid across serving-cert rotations.
 * Throws `UnavailableError` (reason `CertDirUnavailable`, message naming the path) when the directory cannot be
 * created or written.
 * @example
 * const certs = await ensureCerts(".fluxgate/certs", { service: "fluxgate", namespace: "fluxgate-system" })
 * certs.issued // "ca+serving" the first time, "none" after that
 */
export async function ensureCerts(dir: string, options: EnsureCertsOptions): Promise<EnsuredCerts> {
  const now = options.now ?? new Date();
  const renewBeforeMs = options.renewBeforeMs ?? 0;
  const root = resolve(dir);
  const path = {
    ca: join(root, CERT_FILE_NAMES.ca),
    caKey: join(root, CERT_FILE_NAMES.caKey),
    cert: join(root, CERT_FILE_NAMES.cert),
    key: join(root, CERT_FILE_NAMES.key),
  };
  const wanted = {
    dnsNames: unique([...servingDnsNames(options.service, options.namespace), ...(options.extraDnsNames ?? ["localhost"])].map((n) => n.toLowerCase())),
    ipAddresses: unique((options.extraIps ?? ["127.0.0.1", "::1"]).map((ip) => canonicalIp(ip) ?? ip)),
  };

  try {
    await mkdir(root, { recursive: true, mode: 0o700 });
  } catch (cause) {
    throw new UnavailableError("CertDirUnavailable", `cannot create the certificate directory ${root}: ${errorText(cause)}`, { cause });
  }
  const [ca, caKey, cert, key] = await Promise.all([load(path.ca), load(path.caKey), load(path.cert), load(path.key)]);

  let caPair: CertPair;
  let issued: Issued;
  let reason: string;
  const caVerdict = await checkCa(ca, caKey, now, renewBeforeMs);
  if ("keep" in caVerdict) {
    caPair = caVerdict.keep;
    const servingVerdict =
      options.force === true ? { problem: "a new serving certificate was requested" } : await checkServing(cert, key, caPair.certPem, wanted, now, renewBeforeMs);
    if ("keep" in servingVerdict) {
      const { pem, description: d } = servingVerdict.keep;
      return {
        caFile: path.ca, certFile: path.cert, keyFile: path.key, caPem: caPair.certPem, certPem: pem, issued: "none",
        reason: `${CERT_FILE_NAMES.cert} is valid until ${iso(d.notAfter)}, renewal due from ${iso(renewalTime(d, renewBeforeMs))}`,
        notAfter: d.notAfter,
      };
    }
    issued = "serving";
    reason = servingVerdict.problem;
  } else {
    caPair = await issueCa({ now, validityDays: options.caValidityDays });
    // The CA goes first: once tls.crt changes, the CA that signed it is already on disk for whoever builds caBundle.
    await writeAtomically(path.caKey, caPair.keyPem, 0o600);
    await writeAtomically(path.ca, caPair.certPem, 0o644);
    issued = "ca+serving";
    reason = caVerdict.problem;
  }

  const serving = await issueServingCert(caPair, { ...wanted, validityDays: options.certValidityDays, now });
  // Key first, cert last: two renames can never be atomic together, so a reloading reader must check the pair with
  // keyMatchesCert anyway; this order keeps the mismatch window to one rename and makes tls.crt the commit point,
  // so a reader that reloads on a tls.crt change (or on its serial changing) always finds the matching key in place.
  await writeAtomically(path.key, serving.keyPem, 0o600);
  await writeAtomically(path.cert, serving.certPem, 0o644);
  return {
    caFile: path.ca, certFile: path.cert, keyFile: path.key, caPem: caPair.certPem, certPem: serving.certPem, issued, reason,
    notAfter: describeCert(serving.certPem).notAfter,
  };
}

/**
 * The value for `clientConfig.caBundle` in a webhook configuration: the CA PEM, base64-encoded (the field is bytes).
 * @example caBundle("-----BEGIN CERTIFICATE-----\n…") // "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCi…"
 */
export function caBundle(caPem: string): string {
  return Buffer.from(caPem, "utf8").toString("base64");
}

/** A file's text, or why it cannot be used. */
type Loaded = { name: string; text: string; problem?: undefined } | { name: string; text?: undefined; problem: string };

async function load(file: string): Promise<Loaded> {
  const name = basename(file);
  try {
    return { name, text: await readFile(file, "utf8") };
  } catch (e) {
    const missing = (e as { code?: unknown }).code === "ENOENT";
    return { name, problem: missing ? `${name} is missing` : `${name} cannot be read: ${errorText(e)}` };
  }
}

/** What to keep, or why it cannot be kept. */
type Verdict<T> = { keep: T } | { problem: string };

async function checkCa(ca: Loaded, caKey: Loaded, now: Date, renewBeforeMs: number): Promise<Verdict<CertPair>> {
  if (ca.text === undefined) return { problem: ca.problem };
  if (caKey.text === undefined) return { problem: caKey.problem };
  const d = describeOrProblem(ca.name, ca.text);
  if (typeof d === "string") return { problem: d };
  const constraints = parseFirstCert(ca.text).getExtension(x509.BasicConstraintsExtension);
  if (constraints === null || !constraints.ca) return { problem: `${ca.name} is not a CA certificate` };
  if (!(await keyMatchesCert(ca.text, caKey.text))) return { problem: `${caKey.name} does not match ${ca.name}` };
  const due = dueProblem(ca.name, d, now, renewBeforeMs);
  return due === undefined ? { keep: { certPem: ca.text, keyPem: caKey.text } } : { problem: due };
}

async function checkServing(
  cert: Loaded,
  key: Loaded,
  caPem: string,
  wanted: { dnsNames: string[]; ipAddresses: string[] },
  now: Date,
  renewBeforeMs: number,
): Promise<Verdict<{ pem: string; description: CertDescription }>> {
  if (cert.text === undefined) return { problem: cert.problem };
  if (key.text === undefined) return { problem: key.problem };
  const d = describeOrProblem(cert.name, cert.text);
  if (typeof d === "string") return { problem: d };
  const caCert = parseFirstCert(caPem);
  const leaf = parseFirstCert(cert.text);
  const signedByCa = leaf.issuer === caCert.subject && (await leaf.verify({ publicKey: caCert.publicKey, signatureOnly: true }).catch(() => false));
  if (!signedByCa) return { problem: `${cert.name} was not issued by ${CERT_FILE_NAMES.ca}` };
  if (!(await keyMatchesCert(cert.text, key.text))) return { problem: `${key.name} does not match ${cert.name}` };
  const dns = new Set(d.dnsNames.map((n) => n.toLowerCase()));
  const ips = new Set(d.ipAddresses);
  const missing = [...wanted.dnsNames.filter((n) => !dns.has(n)), ...wanted.ipAddresses.filter((ip) => !ips.has(ip))];
  if (missing.length > 0) return { problem: `${cert.name} does not cover ${missing.join(", ")}` };
  const due = dueProblem(cert.name, d, now, renewBeforeMs);
  return due === undefined ? { keep: { pem: cert.text, description: d } } : { problem: due };
}

function describeOrProblem(name: string, pem: string): CertDescription | string {
  try {
    return describeCert(pem);
  } catch (e) {
    if (e instanceof FluxgateError) return `${name} does not parse: ${e.message}`;
    throw e;
  }
}

function dueProblem(name: string, d: CertDescription, now: Date, renewBeforeMs: number): string | undefined {
  if (now.getTime() < d.notBefore.getTime()) return `${name} is not valid before ${iso(d.notBefore)}`;
  const due = renewalTime(d, renewBeforeMs);
  if (now.getTime() >= due.getTime()) return `${name} is due for renewal since ${iso(due)} (valid until ${iso(d.notAfter)})`;
  return undefined;
}

/**
 * Writes `text` to a temporary file beside `file`, flushes it, and renames it over `file`, so a reader sees the old
 * content or the new, never a partial file; a crash leaves at most a stray `.*.tmp` file.
 */
async function writeAtomically(file: string, text: string, mode: number): Promise<void> {
  const suffix = Array.from(crypto.getRandomValues(new Uint8Array(6)), (b) => b.toString(16).padStart(2, "0")).join("");
  const temp = join(dirname(file), `.${basename(file)}.${suffix}.tmp`);
  try {
    // Created with its final mode, so a key is never readable by others, not even for a moment.
    const handle = await open(temp, "wx", mode);
    try {
      await handle.writeFile(text, "utf8");
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, file);
  } catch (cause) {
    await rm(temp, { force: true }).catch(() => undefined);
    throw new UnavailableError("CertDirUnavailable", `cannot write ${file}: ${errorText(cause)}`, { cause });
  }
}

const unique = (items: string[]): string[] => [...new Set(items)];
const iso = (d: Date): string => d.toISOString();
const errorText = (e: unknown): string => (e instanceof Error ? e.message : String(e));
