import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { describeCert, issueCa, issueServingCert } from "../../certs/issue.ts";
import { keyMatchesCert } from "../../certs/inspect.ts";
import { caBundle, ensureCerts } from "../../certs/store.ts";
import type { EnsureCertsOptions } from "../../certs/store.ts";
import { x509 } from "../../certs/x509.ts";
import { UnavailableError } from "../../src/errors.ts";

const NOW = new Date("2026-11-25T08:00:00Z");
const OPTIONS: EnsureCertsOptions = { service: "fluxgate", namespace: "fluxgate-system", now: NOW };
const FILES = ["ca.crt", "ca.key", "tls.crt", "tls.key"];

let root: string;
before(async () => {
  root = await mkdtemp(join(tmpdir(), "fluxgate-certs-store-"));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

let dirs = 0;
/** A fresh directory path (not created) for one test. */
const freshDir = () => join(root, `case-${++dirs}`, "certs");

/** Contents and mtimes of the four files, to tell which ones a call rewrote. */
async function snapshot(dir: string): Promise<Record<string, { text: string; mtimeMs: number }>> {
  const out: Record<string, { text: string; mtimeMs: number }> = {};
  for (const name of FILES) out[name] = { text: await readFile(join(dir, name), "utf8"), mtimeMs: (await stat(join(dir, name))).mtimeMs };
  return out;
}

/** The names of the files that differ between two snapshots. */
const changed = (a: Awaited<ReturnType<typeof snapshot>>, b: Awaited<ReturnType<typeof snapshot>>) =>
  FILES.filter((f) => a[f]?.text !== b[f]?.text || a[f]?.mtimeMs !== b[f]?.mtimeMs);

async function issuedBy(certPem: string, caPem: string): Promise<boolean> {
  return new x509.X509Certificate(certPem).verify({ publicKey: new x509.X509Certificate(caPem).publicKey, signatureOnly: true });
}

describe("ensureCerts in an empty place", () => {
  let dir: string;
  let result: Awaited<ReturnType<typeof ensureCerts>>;
  before(async () => {
    dir = freshDir();
    result = await ensureCerts(dir, OPTIONS);
  });

  it("issues a CA and a serving certificate and says so", () => {
    assert.equal(result.issued, "ca+serving");
    assert.equal(result.reason, "ca.crt is missing");
    assert.deepEqual(result.notAfter, new Date("2027-11-25T08:00:00Z"));
  });

  it("creates the directory with mode 0700 holding exactly ca.crt, ca.key, tls.crt and tls.key", async () => {
    assert.equal((await stat(dir)).mode & 0o777, 0o700);
    assert.deepEqual((await readdir(dir)).sort(), FILES);
    assert.equal(result.caFile, join(dir, "ca.crt"));
    assert.equal(result.certFile, join(dir, "tls.crt"));
    assert.equal(result.keyFile, join(dir, "tls.key"));
  });

  it("writes both private keys with mode 0600", async () => {
    assert.equal((await stat(join(dir, "ca.key"))).mode & 0o777, 0o600);
    assert.equal((await stat(join(dir, "tls.key"))).mode & 0o777, 0o600);
  });

  it("returns the PEMs that are on disk", async () => {
    assert.equal(result.caPem, await readFile(join(dir, "ca.crt"), "utf8"));
    assert.equal(result.certPem, await readFile(join(dir, "tls.crt"), "utf8"));
  });

  it("names the Service, localhost, 127.0.0.1 and ::1 in a serving certificate signed by ca.crt", async () => {
    const d = describeCert(result.certPem);
    assert.deepEqual(d.dnsNames, [
      "fluxgate",
      "fluxgate.fluxgate-system",
      "fluxgate.fluxgate-system.svc",
      "fluxgate.fluxgate-system.svc.cluster.local",
      "localhost",
    ]);
    assert.deepEqual(d.ipAddresses, ["127.0.0.1", "::1"]);
    assert.equal(d.issuer, describeCert(result.caPem).subject);
    assert.equal(await issuedBy(result.certPem, result.caPem), true);
    assert.equal(await keyMatchesCert(result.certPem, await readFile(result.keyFile, "utf8")), true);
    assert.equal(await keyMatchesCert(result.caPem, await readFile(join(dir, "ca.key"), "utf8")), true);
  });

  it("keeps everything, writing nothing, when called again", async () => {
    const before = await snapshot(dir);
    const again = await ensureCerts(dir, OPTIONS);
    assert.equal(again.issued, "none");
    assert.equal(again.reason, "tls.crt is valid until 2027-11-25T08:00:00.000Z, renewal due from 2027-07-26T15:58:20.000Z");
    assert.equal(again.caPem, result.caPem);
    assert.equal(again.certPem, result.certPem);
    assert.deepEqual(again.notAfter, new Date("2027-11-25T08:00:00Z"));
    assert.deepEqual(changed(before, await snapshot(dir)), []);
  });
});

describe("ensureCerts rotation", () => {
  it("keeps the serving certificate until one second before its renewal point", async () => {
    const dir = freshDir();
    await ensureCerts(dir, OPTIONS);
    const before = await snapshot(dir);
    const r = await ensureCerts(dir, { ...OPTIONS, now: new Date("2027-07-26T15:58:19Z") });
    assert.equal(r.issued, "none");
    assert.deepEqual(changed(before, await snapshot(dir)), []);
  });

  it("reissues the serving certificate with the same CA once a third of its lifetime is left", async () => {
    const dir = freshDir();
    const first = await ensureCerts(dir, OPTIONS);
    const before = await snapshot(dir);
    const now = new Date("2027-07-26T15:58:20Z");
    const r = await ensureCerts(dir, { ...OPTIONS, now });
    assert.equal(r.issued, "serving");
    assert.equal(r.reason, "tls.crt is due for renewal since 2027-07-26T15:58:20.000Z (valid until 2027-11-25T08:00:00.000Z)");
    assert.deepEqual(changed(before, await snapshot(dir)), ["tls.crt", "tls.key"]);
    assert.equal(r.caPem, first.caPem);
    assert.deepEqual(describeCert(r.certPem).notBefore, new Date("2027-07-26T15:53:20Z"));
    assert.deepEqual(r.notAfter, new Date("2028-07-25T15:58:20Z"));
    assert.equal(await issuedBy(r.certPem, first.caPem), true);
    assert.equal(await keyMatchesCert(r.certPem, await readFile(r.keyFile, "utf8")), true);
  });

  it("renews earlier with renewBeforeMs longer than a third of the lifetime", async () => {
    const dir = freshDir();
    await ensureCerts(dir, OPTIONS);
    const renewBeforeMs = 200 * 24 * 3600_000;
    assert.equal((await ensureCerts(dir, { ...OPTIONS, renewBeforeMs, now: new Date("2027-05-09T07:59:59Z") })).issued, "none");
    assert.equal((await ensureCerts(dir, { ...OPTIONS, renewBeforeMs, now: new Date("2027-05-09T08:00:00Z") })).issued, "serving");
  });

  it("reissues the CA and the serving certificate once the CA reaches its own renewal point", async () => {
    const dir = freshDir();
    const first = await ensureCerts(dir, OPTIONS);
    const before = await snapshot(dir);
    const r = await ensureCerts(dir, { ...OPTIONS, now: new Date("2033-07-24T15:58:20Z") });
    assert.equal(r.issued, "ca+serving");
    assert.equal(r.reason, "ca.crt is due for renewal since 2033-07-24T15:58:20.000Z (valid until 2036-11-22T08:00:00.000Z)");
    assert.deepEqual(changed(before, await snapshot(dir)), FILES);
    assert.notEqual(r.caPem, first.caPem);
    assert.equal(await issuedBy(r.certPem, r.caPem), true);
  });

  it("reissues both when the clock is before the CA's notBefore (it went back)", async () => {
    const dir = freshDir();
    await ensureCerts(dir, OPTIONS);
    const r = await ensureCerts(dir, { ...OPTIONS, now: new Date("2026-11-25T07:00:00Z") });
    assert.equal(r.issued, "ca+serving");
    assert.equal(r.reason, "ca.crt is not valid before 2026-11-25T07:55:00.000Z");
  });

  it("reissues the serving certificate on request, keeping the CA", async () => {
    const dir = freshDir();
    await ensureCerts(dir, OPTIONS);
    const before = await snapshot(dir);
    const r = await ensureCerts(dir, { ...OPTIONS, force: true });
    assert.equal(r.issued, "serving");
    assert.equal(r.reason, "a new serving certificate was requested");
    assert.deepEqual(changed(before, await snapshot(dir)), ["tls.crt", "tls.key"]);
  });

  it("reissues the serving certificate when a wanted DNS name or IP address is not in it, and keeps a superset", async () => {
    const dir = freshDir();
    await ensureCerts(dir, OPTIONS);
    const wider = { ...OPTIONS, extraDnsNames: ["localhost", "fluxgate.example.com"], extraIps: ["127.0.0.1", "::1", "10.0.0.5"] };
    const r = await ensureCerts(dir, wider);
    assert.equal(r.issued, "serving");
    assert.equal(r.reason, "tls.crt does not cover fluxgate.example.com, 10.0.0.5");
    assert.deepEqual(describeCert(r.certPem).dnsNames.slice(4), ["localhost", "fluxgate.example.com"]);
    assert.deepEqual(describeCert(r.certPem).ipAddresses, ["127.0.0.1", "::1", "10.0.0.5"]);
    assert.equal((await ensureCerts(dir, OPTIONS)).issued, "none");
  });

  it("honours caValidityDays and certValidityDays", async () => {
    const r = await ensureCerts(freshDir(), { ...OPTIONS, caValidityDays: 365, certValidityDays: 90 });
    assert.deepEqual(describeCert(r.caPem).notAfter, new Date("2027-11-25T08:00:00Z"));
    assert.deepEqual(r.notAfter, new Date("2027-02-23T08:00:00Z"));
  });
});

describe("ensureCerts with damaged files", () => {
  /** Sets up a valid directory, lets `damage` break it, and returns what the next call did and which files it rewrote. */
  async function afterDamage(damage: (dir: string) => Promise<void>) {
    const dir = freshDir();
    await ensureCerts(dir, OPTIONS);
    await damage(dir);
    const before = await snapshot(dir).catch(() => undefined);
    const result = await ensureCerts(dir, OPTIONS);
    const rewritten = before === undefined ? undefined : changed(before, await snapshot(dir));
    return { dir, result, rewritten };
  }

  it("reissues the serving certificate when tls.crt is not PEM", async () => {
    const { result, rewritten } = await afterDamage((dir) => writeFile(join(dir, "tls.crt"), "garbage"));
    assert.equal(result.issued, "serving");
    assert.equal(result.reason, "tls.crt does not parse: no CERTIFICATE block in the PEM");
    assert.deepEqual(rewritten, ["tls.crt", "tls.key"]);
  });

  it("reissues the serving certificate when tls.crt is cut off halfway", async () => {
    const { result } = await afterDamage(async (dir) => {
      const pem = await readFile(join(dir, "tls.crt"), "utf8");
      await writeFile(join(dir, "tls.crt"), pem.slice(0, pem.length / 2));
    });
    assert.equal(result.issued, "serving");
    assert.equal(result.reason, "tls.crt does not parse: no CERTIFICATE block in the PEM");
  });

  it("reissues the serving certificate when tls.key is missing", async () => {
    const { result } = await afterDamage((dir) => rm(join(dir, "tls.key")));
    assert.equal(result.issued, "serving");
    assert.equal(result.reason, "tls.key is missing");
  });

  it("reissues the serving certificate when tls.key is not the key of tls.crt", async () => {
    const { result, rewritten } = await afterDamage(async (dir) => writeFile(join(dir, "tls.key"), (await issueCa()).keyPem));
    assert.equal(result.issued, "serving");
    assert.equal(result.reason, "tls.key does not match tls.crt");
    assert.deepEqual(rewritten, ["tls.crt", "tls.key"]);
  });

  it("reissues the serving certificate when another CA issued it", async () => {
    const { result } = await afterDamage(async (dir) => {
      const other = await issueCa({ now: NOW });
      const pair = await issueServingCert(other, { dnsNames: ["fluxgate", "fluxgate.fluxgate-system", "fluxgate.fluxgate-system.svc", "fluxgate.fluxgate-system.svc.cluster.local", "localhost"], ipAddresses: ["127.0.0.1", "::1"], now: NOW });
      await writeFile(join(dir, "tls.crt"), pair.certPem);
      await writeFile(join(dir, "tls.key"), pair.keyPem);
    });
    assert.equal(result.issued, "serving");
    assert.equal(result.reason, "tls.crt was not issued by ca.crt");
  });

  it("reissues both when ca.crt is not PEM", async () => {
    const { result, rewritten } = await afterDamage((dir) => writeFile(join(dir, "ca.crt"), "garbage"));
    assert.equal(result.issued, "ca+serving");
    assert.equal(result.reason, "ca.crt does not parse: no CERTIFICATE block in the PEM");
    assert.deepEqual(rewritten, FILES);
  });

  it("reissues both when ca.key is missing", async () => {
    const { result } = await afterDamage((dir) => rm(join(dir, "ca.key")));
    assert.equal(result.issued, "ca+serving");
    assert.equal(result.reason, "ca.key is missing");
  });

  it("reissues both when ca.key is not the key of ca.crt", async () => {
    const { result } = await afterDamage(async (dir) => writeFile(join(dir, "ca.key"), (await issueCa()).keyPem));
    assert.equal(result.issued, "ca+serving");
    assert.equal(result.reason, "ca.key does not match ca.crt");
  });

  it("reissues both when ca.crt is a leaf, not a CA", async () => {
    const { result } = await afterDamage(async (dir) => {
      await writeFile(join(dir, "ca.crt"), await readFile(join(dir, "tls.crt")));
      await writeFile(join(dir, "ca.key"), await readFile(join(dir, "tls.key")));
    });
    assert.equal(result.issued, "ca+serving");
    assert.equal(result.reason, "ca.crt is not a CA certificate");
  });
});

describe("ensureCerts where it cannot write", () => {
  it("throws UnavailableError naming the directory when it cannot be created", async () => {
    const file = join(root, `case-${++dirs}-a-file`);
    await writeFile(file, "");
    const dir = join(file, "certs");
    await assert.rejects(ensureCerts(dir, OPTIONS), (e: unknown) => {
      assert.ok(e instanceof UnavailableError);
      assert.equal(e.reason, "CertDirUnavailable");
      assert.ok(e.message.startsWith(`cannot create the certificate directory ${dir}: `), e.message);
      return true;
    });
  });

  it("throws UnavailableError naming the file it cannot replace, and leaves no temporary file", async () => {
    const dir = freshDir();
    await mkdir(join(dir, "tls.key"), { recursive: true });
    await assert.rejects(ensureCerts(dir, OPTIONS), (e: unknown) => {
      assert.ok(e instanceof UnavailableError);
      assert.equal(e.reason, "CertDirUnavailable");
      assert.ok(e.message.startsWith(`cannot write ${join(dir, "tls.key")}: `), e.message);
      return true;
    });
    assert.deepEqual((await readdir(dir)).sort(), ["ca.crt", "ca.key", "tls.key"]);
  });
});

describe("caBundle", () => {
  it("is the CA PEM in base64, as clientConfig.caBundle wants it", () => {
    assert.equal(
      caBundle("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"),
      "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUIKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo=",
    );
  });

  it("decodes back to the CA file's exact bytes", async () => {
    const { certPem } = await issueCa();
    assert.equal(Buffer.from(caBundle(certPem), "base64").toString("utf8"), certPem);
  });
});
