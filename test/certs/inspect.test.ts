import assert from "node:assert/strict";
import { createPrivateKey } from "node:crypto";
import { before, describe, it } from "node:test";
import { certNotAfter, firstCertificate, keyMatchesCert } from "../../certs/inspect.ts";
import { describeCert, issueCa, issueServingCert } from "../../certs/issue.ts";

describe("certNotAfter and firstCertificate", () => {
  it("read the first certificate of a chain, even with no line break between the blocks", async () => {
    const ca = await issueCa();
    const serving = await issueServingCert(ca, { dnsNames: ["fluxgate"], ipAddresses: [], validityDays: 30 });
    for (const pem of [serving.certPem, `${serving.certPem}${ca.certPem}`, `${serving.certPem.trimEnd()}${ca.certPem}`]) {
      assert.equal(certNotAfter(pem).getTime(), describeCert(serving.certPem).notAfter.getTime());
      assert.equal(firstCertificate(pem).serialNumber.toLowerCase(), describeCert(serving.certPem).serial);
    }
  });

  it("say what is wrong with input that holds no certificate", async () => {
    const { keyPem } = await issueCa();
    assert.throws(() => certNotAfter(keyPem), { reason: "InvalidCertificate", message: "no CERTIFICATE block in the PEM" });
    assert.throws(() => certNotAfter("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), { reason: "InvalidCertificate", message: /^the CERTIFICATE block does not parse: / });
  });
});

describe("keyMatchesCert", () => {
  let ca: Awaited<ReturnType<typeof issueCa>>;
  let serving: Awaited<ReturnType<typeof issueServingCert>>;
  before(async () => {
    ca = await issueCa();
    serving = await issueServingCert(ca, { dnsNames: ["fluxgate"], ipAddresses: [] });
  });

  it("accepts a certificate with its own key", async () => {
    assert.equal(await keyMatchesCert(serving.certPem, serving.keyPem), true);
  });

  it("accepts the key in SEC1 form (BEGIN EC PRIVATE KEY, as cert-manager writes it)", async () => {
    const sec1 = String(createPrivateKey(serving.keyPem).export({ type: "sec1", format: "pem" }));
    assert.ok(sec1.startsWith("-----BEGIN EC PRIVATE KEY-----"));
    assert.equal(await keyMatchesCert(serving.certPem, sec1), true);
  });

  it("accepts a certificate followed by its chain", async () => {
    assert.equal(await keyMatchesCert(`${serving.certPem}${ca.certPem}`, serving.keyPem), true);
  });

  it("rejects another certificate's key", async () => {
    assert.equal(await keyMatchesCert(serving.certPem, ca.keyPem), false);
  });

  it("rejects unparseable input instead of throwing", async () => {
    assert.equal(await keyMatchesCert(serving.certPem, "garbage"), false);
    assert.equal(await keyMatchesCert("garbage", serving.keyPem), false);
  });
});
