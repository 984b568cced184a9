import assert from "node:assert/strict";
import { createPrivateKey, X509Certificate as NodeX509Certificate } from "node:crypto";
import { createServer, request } from "node:https";
import type { Server } from "node:https";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { describeCert, issueCa, issueServingCert, needsRenewal, renewalTime, servingDnsNames } from "../../certs/issue.ts";
import type { CertPair } from "../../certs/issue.ts";
import { x509 } from "../../certs/x509.ts";
import { FluxgateError } from "../../src/errors.ts";

const NOW = new Date("2026-11-25T08:00:00Z");
const SERVICE_NAMES = [
  "fluxgate",
  "fluxgate.fluxgate-system",
  "fluxgate.fluxgate-system.svc",
  "fluxgate.fluxgate-system.svc.cluster.local",
];
const cert = (pem: string) => new x509.X509Certificate(pem);

describe("servingDnsNames", () => {
  it("lists the Service's short, namespaced, .svc and cluster.local names, shortest first", () => {
    assert.deepEqual(servingDnsNames("fluxgate", "fluxgate-system"), SERVICE_NAMES);
  });
});

describe("issueCa", () => {
  let ca: CertPair;
  before(async () => {
    ca = await issueCa({ now: NOW });
  });

  it("issues a self-signed CA named fluxgate-ca, valid from 5 minutes before now for 3650 days", () => {
    const d = describeCert(ca.certPem);
    assert.equal(d.subject, "CN=fluxgate-ca");
    assert.equal(d.issuer, "CN=fluxgate-ca");
    assert.deepEqual(d.notBefore, new Date("2026-11-25T07:55:00Z"));
    assert.deepEqual(d.notAfter, new Date("2036-11-22T08:00:00Z"));
    assert.deepEqual(d.dnsNames, []);
    assert.deepEqual(d.ipAddresses, []);
    assert.match(d.serial, /^[4-7][0-9a-f]{31}$/);
  });

  it("may sign leaf certificates only: critical basicConstraints CA with path length 0", () => {
    const bc = cert(ca.certPem).getExtension(x509.BasicConstraintsExtension);
    assert.equal(bc?.ca, true);
    assert.equal(bc?.pathLength, 0);
    assert.equal(bc?.critical, true);
  });

  it("has the critical key usages keyCertSign and cRLSign and nothing else", () => {
    const ku = cert(ca.certPem).getExtension(x509.KeyUsagesExtension);
    assert.equal(ku?.usages, x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign);
    assert.equal(ku?.critical, true);
  });

  it("carries a subject key identifier derived from its public key", async () => {
    const c = cert(ca.certPem);
    const expected = await x509.SubjectKeyIdentifierExtension.create(c.publicKey);
    assert.equal(c.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId, expected.keyId);
  });

  it("signs itself with its own ECDSA P-256 key", async () => {
    const c = cert(ca.certPem);
    assert.equal(await c.isSelfSigned(), true);
    assert.equal(await c.verify({ date: NOW }), true);
  });

  it("returns the key as an unencrypted PKCS#8 PEM of an ECDSA P-256 key", () => {
    assert.match(ca.keyPem, /^-----BEGIN PRIVATE KEY-----\n[A-Za-z0-9+/=\n]+-----END PRIVATE KEY-----\n?$/);
    const key = createPrivateKey(ca.keyPem);
    assert.equal(key.asymmetricKeyType, "ec");
    assert.equal(key.asymmetricKeyDetails?.namedCurve, "prime256v1");
  });

  it("uses the given common name and validity", async () => {
    const d = describeCert((await issueCa({ commonName: "Example CA, test", validityDays: 30, now: NOW })).certPem);
    assert.equal(d.subject, "CN=Example CA\\, test");
    assert.deepEqual(d.notAfter, new Date("2026-12-25T08:00:00Z"));
  });
});

describe("issueServingCert", () => {
  let ca: CertPair;
  let serving: CertPair;
  before(async () => {
    ca = await issueCa({ now: NOW });
    serving = await issueServingCert(ca, { dnsNames: [...SERVICE_NAMES, "localhost"], ipAddresses: ["127.0.0.1", "::1"], now: NOW });
  });

  it("takes its CN from the first DNS name and carries every DNS name and IP address as SANs", () => {
    const d = describeCert(serving.certPem);
    assert.equal(d.subject, "CN=fluxgate");
    assert.deepEqual(d.dnsNames, [...SERVICE_NAMES, "localhost"]);
    assert.deepEqual(d.ipAddresses, ["127.0.0.1", "::1"]);
  });

  it("is valid from 5 minutes before now for 365 days", () => {
    const d = describeCert(serving.certPem);
    assert.deepEqual(d.notBefore, new Date("2026-11-25T07:55:00Z"));
    assert.deepEqual(d.notAfter, new Date("2027-11-25T08:00:00Z"));
  });

  it("is a non-CA leaf for serverAuth with the critical key usage digitalSignature", () => {
    const c = cert(serving.certPem);
    assert.equal(c.getExtension(x509.BasicConstraintsExtension)?.ca, false);
    const ku = c.getExtension(x509.KeyUsagesExtension);
    assert.equal(ku?.usages, x509.KeyUsageFlags.digitalSignature);
    assert.equal(ku?.critical, true);
    assert.deepEqual([...(c.getExtension(x509.ExtendedKeyUsageExtension)?.usages ?? [])], ["1.3.6.1.5.5.7.3.1"]);
    assert.equal(c.getExtension(x509.SubjectAlternativeNameExtension)?.critical, false);
  });

  it("names the CA as issuer and carries the CA's subject key id as authority key id", () => {
    const c = cert(serving.certPem);
    assert.equal(c.issuer, "CN=fluxgate-ca");
    const caKeyId = cert(ca.certPem).getExtension(x509.SubjectKeyIdentifierExtension)?.keyId;
    assert.equal(typeof caKeyId, "string");
    assert.equal(c.getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId, caKeyId);
  });

  it("verifies against the CA's public key and chains up to the CA", async () => {
    const leaf = cert(serving.certPem);
    const root = cert(ca.certPem);
    assert.equal(await leaf.verify({ publicKey: root.publicKey, date: NOW }), true);
    const chain = await new x509.X509ChainBuilder({ certificates: [root] }).build(leaf);
    assert.deepEqual(
      Array.from(chain, (c) => c.subject),
      ["CN=fluxgate", "CN=fluxgate-ca"],
    );
    // The same through OpenSSL-backed node:crypto, an independent implementation.
    const nodeLeaf = new NodeX509Certificate(serving.certPem);
    const nodeRoot = new NodeX509Certificate(ca.certPem);
    assert.equal(nodeLeaf.checkIssued(nodeRoot), true);
    assert.equal(nodeLeaf.verify(nodeRoot.publicKey), true);
  });

  it("does not verify against a different CA", async () => {
    const other = await issueCa({ now: NOW });
    assert.equal(await cert(serving.certPem).verify({ publicKey: cert(other.certPem).publicKey, date: NOW }), false);
    assert.equal(new NodeX509Certificate(serving.certPem).verify(new NodeX509Certificate(other.certPem).publicKey), false);
  });

  it("gets a fresh key and a random positive 16-byte serial every time", async () => {
    const again = await issueServingCert(ca, { dnsNames: ["fluxgate"], ipAddresses: [], now: NOW });
    assert.notEqual(again.keyPem, serving.keyPem);
    assert.notEqual(describeCert(again.certPem).serial, describeCert(serving.certPem).serial);
    assert.match(describeCert(again.certPem).serial, /^[4-7][0-9a-f]{31}$/);
  });

  it("never outlives its CA", async () => {
    const shortCa = await issueCa({ validityDays: 30, now: NOW });
    const leaf = await issueServingCert(shortCa, { dnsNames: ["fluxgate"], ipAddresses: [], validityDays: 365, now: NOW });
    assert.deepEqual(describeCert(leaf.certPem).notAfter, new Date("2026-12-25T08:00:00Z"));
  });

  it("writes IPv6 addresses in canonical form", async () => {
    const leaf = await issueServingCert(ca, { dnsNames: [], ipAddresses: ["0:0:0:0:0:0:0:1", "FD00:0:0::5"], now: NOW });
    const d = describeCert(leaf.certPem);
    assert.deepEqual(d.ipAddresses, ["::1", "fd00::5"]);
    assert.equal(d.subject, "CN=::1");
  });

  it("leaves CN out and marks the SANs critical when the first DNS name is longer than 64 characters", async () => {
    const long = `${"a".repeat(60)}.example.com`;
    const leaf = await issueServingCert(ca, { dnsNames: [long], ipAddresses: [], now: NOW });
    assert.equal(describeCert(leaf.certPem).subject, "");
    assert.equal(cert(leaf.certPem).getExtension(x509.SubjectAlternativeNameExtension)?.critical, true);
  });

  it("refuses a certificate without any DNS name or IP address", async () => {
    await assert.rejects(issueServingCert(ca, { dnsNames: [], ipAddresses: [] }), {
      name: "FluxgateError",
      reason: "InvalidSubjectAltName",
      message: "a serving certificate needs at least one DNS name or IP address",
    });
  });

  it("refuses an IP address that is not one", async () => {
    await assert.rejects(issueServingCert(ca, { dnsNames: ["fluxgate"], ipAddresses: ["10.0.0.300"] }), {
      reason: "InvalidSubjectAltName",
      message: '"10.0.0.300" is not an IPv4 or IPv6 address',
    });
  });
});

/** GET / over HTTPS to 127.0.0.1; resolves with the body or rejects with the TLS error. */
function get(port: number, options: { ca: string; servername?: string }): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path: "/", agent: false, ...options }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () => resolve(body));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("a TLS server presenting the serving certificate", () => {
  const dnsNames = [...SERVICE_NAMES, "localhost"];
  let ca: CertPair;
  let server: Server;
  let port: number;
  before(async () => {
    // The real clock: TLS clients check validity against it.
    ca = await issueCa();
    const serving = await issueServingCert(ca, { dnsNames, ipAddresses: ["127.0.0.1", "::1"] });
    server = createServer({ cert: serving.certPem, key: serving.keyPem }, (_req, res) => res.end("ok"));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as AddressInfo).port;
  });
  after(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  for (const name of dnsNames) {
    it(`completes a handshake with a client that trusts the CA and asks for ${name}`, async () => {
      assert.equal(await get(port, { ca: ca.certPem, servername: name }), "ok");
    });
  }

  it("completes a handshake with a client that connects to 127.0.0.1 without SNI", async () => {
    assert.equal(await get(port, { ca: ca.certPem }), "ok");
  });

  it("fails the handshake with a client that trusts a different CA", async () => {
    const other = await issueCa();
    await assert.rejects(get(port, { ca: other.certPem, servername: "fluxgate.fluxgate-system.svc" }), {
      code: "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
    });
  });

  it("fails the handshake for a name the certificate does not carry", async () => {
    await assert.rejects(get(port, { ca: ca.certPem, servername: "fluxgate.other-namespace.svc" }), {
      code: "ERR_TLS_CERT_ALTNAME_INVALID",
    });
  });
});

describe("describeCert", () => {
  let ca: CertPair;
  let serving: CertPair;
  before(async () => {
    ca = await issueCa({ now: NOW });
    serving = await issueServingCert(ca, { dnsNames: ["fluxgate"], ipAddresses: ["10.0.0.5"], now: NOW });
  });

  it("describes the first certificate of a chain (a tls.crt may carry its issuer after it)", () => {
    const d = describeCert(`${serving.certPem}\n${ca.certPem}`);
    assert.equal(d.subject, "CN=fluxgate");
    assert.equal(d.issuer, "CN=fluxgate-ca");
    assert.deepEqual(d.dnsNames, ["fluxgate"]);
    assert.deepEqual(d.ipAddresses, ["10.0.0.5"]);
    assert.equal(d.serial, cert(serving.certPem).serialNumber.toLowerCase());
  });

  it("refuses text without a CERTIFICATE block", () => {
    assert.throws(() => describeCert("not a certificate"), (e: unknown) => {
      assert.ok(e instanceof FluxgateError);
      assert.equal(e.reason, "InvalidCertificate");
      assert.equal(e.message, "no CERTIFICATE block in the PEM");
      return true;
    });
    assert.throws(() => describeCert(serving.keyPem), { reason: "InvalidCertificate", message: "no CERTIFICATE block in the PEM" });
  });

  it("refuses a CERTIFICATE block that does not hold a certificate", () => {
    assert.throws(() => describeCert("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), (e: unknown) => {
      assert.ok(e instanceof FluxgateError);
      assert.equal(e.reason, "InvalidCertificate");
      assert.match(e.message, /^the CERTIFICATE block does not parse: /);
      return true;
    });
  });
});

describe("renewalTime and needsRenewal (renew when less than max(renewBefore, a third of the lifetime) is left)", () => {
  let pem: string;
  before(async () => {
    // 2026-11-25T07:55:00Z .. 2027-11-25T08:00:00Z: a third of that lifetime is 121 days 16:01:40.
    pem = (await issueServingCert(await issueCa({ now: NOW }), { dnsNames: ["fluxgate"], ipAddresses: [], now: NOW })).certPem;
  });

  it("puts renewal of a 365-day certificate a third of its lifetime before expiry", () => {
    assert.deepEqual(renewalTime(describeCert(pem)), new Date("2027-07-26T15:58:20Z"));
    assert.equal(needsRenewal(pem, new Date("2027-07-26T15:58:19Z")), false);
    assert.equal(needsRenewal(pem, new Date("2027-07-26T15:58:20Z")), true);
  });

  it("keeps the third when renewBefore is shorter", () => {
    const thirtyDays = 30 * 24 * 3600_000;
    assert.deepEqual(renewalTime(describeCert(pem), thirtyDays), new Date("2027-07-26T15:58:20Z"));
    assert.equal(needsRenewal(pem, new Date("2027-07-26T15:58:19Z"), thirtyDays), false);
  });

  it("renews earlier when renewBefore is longer than a third", () => {
    const twoHundredDays = 200 * 24 * 3600_000;
    assert.deepEqual(renewalTime(describeCert(pem), twoHundredDays), new Date("2027-05-09T08:00:00Z"));
    assert.equal(needsRenewal(pem, new Date("2027-05-09T07:59:59Z"), twoHundredDays), false);
    assert.equal(needsRenewal(pem, new Date("2027-05-09T08:00:00Z"), twoHundredDays), true);
  });

  it("does not renew a fresh certificate", () => {
    assert.equal(needsRenewal(pem, NOW), false);
  });

  it("renews a certificate that is not valid yet (the clock went back)", () => {
    assert.equal(needsRenewal(pem, new Date("2026-11-25T07:54:59Z")), true);
    assert.equal(needsRenewal(pem, new Date("2026-11-25T07:55:00Z")), false);
  });

  it("renews an expired certificate", () => {
    assert.equal(needsRenewal(pem, new Date("2027-11-26T00:00:00Z")), true);
  });
});
