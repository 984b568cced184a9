import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { parseArgs } from "node:util";
import { describeCert, renewalTime } from "../../certs/issue.ts";
import { caBundle } from "../../certs/store.ts";
import { certsCommand } from "../../src/cli/certs.ts";
import type { Io, ParsedArgs } from "../../src/cli/command.ts";
import { UnavailableError, UsageError } from "../../src/errors.ts";

let root: string;
before(async () => {
  root = await mkdtemp(join(tmpdir(), "fluxgate-cli-certs-"));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

let cwds = 0;
const freshCwd = () => join(root, `cwd-${++cwds}`);

/** Runs `fluxgate certs <argv>` as src/cli/main.ts does: strict parseArgs with the verb's options, then run. */
async function certs(argv: string[], cwd: string): Promise<{ code: number; out: string; err: string }> {
  const { values } = parseArgs({ args: argv, options: certsCommand.options, strict: true, allowPositionals: false });
  let out = "";
  let err = "";
  const io: Io = { out: (t) => (out += t), err: (t) => (err += t), env: {}, cwd };
  // parseArgs types mixed arrays for a generic options config; certs' flags never mix strings and booleans.
  const code = await certsCommand.run({ values: values as ParsedArgs["values"], positionals: [] }, io);
  return { code, out, err };
}

const SERVICE_NAMES = "fluxgate, fluxgate.fluxgate-system, fluxgate.fluxgate-system.svc, fluxgate.fluxgate-system.svc.cluster.local";

/** The text report expected for the files now in `dir`. */
async function expectedText(dir: string, headline: string, footer: string[] = []): Promise<string> {
  const ca = describeCert(await readFile(join(dir, "ca.crt"), "utf8"));
  const cert = describeCert(await readFile(join(dir, "tls.crt"), "utf8"));
  return [
    headline,
    `  CA         ${join(dir, "ca.crt")}  CN=fluxgate-ca, valid until ${ca.notAfter.toISOString()}`,
    `  cert       ${join(dir, "tls.crt")}  CN=fluxgate, valid until ${cert.notAfter.toISOString()}, renewal from ${renewalTime(cert).toISOString()}`,
    `  key        ${join(dir, "tls.key")}`,
    `  DNS names  ${cert.dnsNames.join(", ")}`,
    `  IPs        ${cert.ipAddresses.join(", ")}`,
    ...footer,
    "",
  ].join("\n");
}

describe("fluxgate certs: the verb", () => {
  it("shows in its help how to patch caBundle into the webhook configuration with kubectl", () => {
    assert.ok(certsCommand.help.startsWith("Usage: fluxgate certs [flags]\n"));
    assert.ok(
      certsCommand.help.includes(
        'kubectl patch validatingwebhookconfiguration fluxgate --type=json \\\n    -p "[{\\"op\\":\\"replace\\",\\"path\\":\\"/webhooks/0/clientConfig/caBundle\\",\\"value\\":\\"$(fluxgate certs --output ca-bundle)\\"}]"\n',
      ),
      certsCommand.help,
    );
  });
});

describe("fluxgate certs: text output", () => {
  let cwd: string;
  let dir: string;
  before(() => {
    cwd = freshCwd();
    dir = join(cwd, ".fluxgate", "certs");
  });

  it("creates the CA and serving certificate in .fluxgate/certs under the working directory, and says caBundle needs the new CA", async () => {
    const r = await certs([], cwd);
    assert.equal(r.code, 0);
    assert.equal(r.err, "");
    assert.equal(
      r.out,
      await expectedText(dir, "Issued a new CA and serving certificate: ca.crt is missing.", [
        "The CA is new: put it into the webhook configurations' caBundle (fluxgate certs --output ca-bundle).",
      ]),
    );
    assert.ok(r.out.includes(`  DNS names  ${SERVICE_NAMES}, localhost\n  IPs        127.0.0.1, ::1\n`));
  });

  it("keeps valid certificates on the next run and says until when", async () => {
    const cert = describeCert(await readFile(join(dir, "tls.crt"), "utf8"));
    const r = await certs([], cwd);
    assert.equal(r.code, 0);
    assert.equal(
      r.out,
      await expectedText(
        dir,
        `Kept the existing certificates: tls.crt is valid until ${cert.notAfter.toISOString()}, renewal due from ${renewalTime(cert).toISOString()}.`,
      ),
    );
  });

  it("reissues only the serving certificate with --force", async () => {
    const caBefore = await readFile(join(dir, "ca.crt"), "utf8");
    const certBefore = await readFile(join(dir, "tls.crt"), "utf8");
    const r = await certs(["--force"], cwd);
    assert.equal(
      r.out,
      await expectedText(dir, "Issued a new serving certificate (CA kept, caBundle unchanged): a new serving certificate was requested."),
    );
    assert.equal(await readFile(join(dir, "ca.crt"), "utf8"), caBefore);
    assert.notEqual(await readFile(join(dir, "tls.crt"), "utf8"), certBefore);
  });
});

describe("fluxgate certs: output for scripts", () => {
  it("prints only the base64 caBundle with --output ca-bundle, and reports an issuance on stderr", async () => {
    const cwd = freshCwd();
    const dir = join(cwd, ".fluxgate", "certs");
    const first = await certs(["--output", "ca-bundle"], cwd);
    assert.equal(first.code, 0);
    assert.equal(first.out, `${caBundle(await readFile(join(dir, "ca.crt"), "utf8"))}\n`);
    assert.equal(first.err, `fluxgate certs: issued ca+serving in ${dir}: ca.crt is missing\n`);
    const second = await certs(["--output", "ca-bundle"], cwd);
    assert.equal(second.out, first.out);
    assert.equal(second.err, "");
  });

  it("prints only the CA certificate with --output ca", async () => {
    const cwd = freshCwd();
    const r = await certs(["--output", "ca"], cwd);
    assert.equal(r.out, await readFile(join(cwd, ".fluxgate", "certs", "ca.crt"), "utf8"));
    assert.ok(r.out.startsWith("-----BEGIN CERTIFICATE-----\n"));
  });

  it("prints one JSON object with --output json", async () => {
    const cwd = freshCwd();
    const dir = join(cwd, ".fluxgate", "certs");
    const r = await certs(["--output", "json", "--renew-before", "300d"], cwd);
    const caPem = await readFile(join(dir, "ca.crt"), "utf8");
    const ca = describeCert(caPem);
    const cert = describeCert(await readFile(join(dir, "tls.crt"), "utf8"));
    assert.deepEqual(JSON.parse(r.out), {
      issued: "ca+serving",
      reason: "ca.crt is missing",
      caFile: join(dir, "ca.crt"),
      certFile: join(dir, "tls.crt"),
      keyFile: join(dir, "tls.key"),
      subject: "CN=fluxgate",
      dnsNames: [...SERVICE_NAMES.split(", "), "localhost"],
      ipAddresses: ["127.0.0.1", "::1"],
      notBefore: cert.notBefore.toISOString(),
      notAfter: cert.notAfter.toISOString(),
      renewAfter: new Date(cert.notAfter.getTime() - 300 * 86_400_000).toISOString(),
      caSubject: "CN=fluxgate-ca",
      caNotAfter: ca.notAfter.toISOString(),
      caBundle: caBundle(caPem),
    });
    assert.ok(r.out.endsWith("}\n"));
  });
});

describe("fluxgate certs: where and for which names", () => {
  it("resolves a relative --dir against the working directory", async () => {
    const cwd = freshCwd();
    const r = await certs(["--dir", "deploy/certs", "--output", "json"], cwd);
    assert.equal(JSON.parse(r.out).certFile, join(cwd, "deploy", "certs", "tls.crt"));
    assert.equal(existsSync(join(cwd, "deploy", "certs", "tls.key")), true);
  });

  it("uses an absolute --dir as it is", async () => {
    const dir = join(freshCwd(), "abs");
    const r = await certs(["--dir", dir, "--output", "json"], freshCwd());
    assert.equal(JSON.parse(r.out).caFile, join(dir, "ca.crt"));
  });

  it("names the given Service and namespace, plus every --dns and --ip, in the serving certificate", async () => {
    const cwd = freshCwd();
    const argv = ["--service", "gate", "--namespace", "ops", "--dns", "Gate.Example.com", "--dns", "*.gate.example.com", "--ip", "10.0.0.5", "--ip", "fd00::5"];
    await certs(argv, cwd);
    const cert = describeCert(await readFile(join(cwd, ".fluxgate", "certs", "tls.crt"), "utf8"));
    assert.deepEqual(cert.dnsNames, ["gate", "gate.ops", "gate.ops.svc", "gate.ops.svc.cluster.local", "localhost", "gate.example.com", "*.gate.example.com"]);
    assert.deepEqual(cert.ipAddresses, ["127.0.0.1", "::1", "10.0.0.5", "fd00::5"]);
    assert.equal(cert.subject, "CN=gate");
  });

  it("reissues the serving certificate when a name is added later", async () => {
    const cwd = freshCwd();
    await certs([], cwd);
    const r = await certs(["--dns", "fluxgate.example.com", "--output", "json"], cwd);
    assert.equal(JSON.parse(r.out).issued, "serving");
    assert.equal(JSON.parse(r.out).reason, "tls.crt does not cover fluxgate.example.com");
  });

  it("lets an unwritable directory's UnavailableError through, naming the path", async () => {
    const cwd = freshCwd();
    await mkdir(cwd, { recursive: true });
    await writeFile(join(cwd, "file"), "");
    await assert.rejects(certs(["--dir", "file/certs"], cwd), (e: unknown) => {
      assert.ok(e instanceof UnavailableError);
      assert.ok(e.message.startsWith(`cannot create the certificate directory ${join(cwd, "file", "certs")}: `), e.message);
      return true;
    });
  });
});

describe("fluxgate certs: bad flags are usage errors, and nothing is written", () => {
  const cases: Array<[string[], string]> = [
    [["--output", "yaml"], '--output: expected one of text, json, ca-bundle, ca, got "yaml"'],
    [["--renew-before", "30x"], '--renew-before: expected a duration like 720h or 30d, got "30x"'],
    [["--renew-before", "365d"], "--renew-before: 365d is not shorter than the serving certificate's 365d lifetime, so every run would reissue it"],
    [["--renew-before", "9000h"], "--renew-before: 9000h is not shorter than the serving certificate's 365d lifetime, so every run would reissue it"],
    [["--ip", "10.0.0.300"], '--ip: expected an IPv4 or IPv6 address like "10.0.0.5" or "fd00::5", got "10.0.0.300"'],
    [["--dns", "bad_name.example.com"], '--dns: expected a DNS name like "fluxgate.example.com", got "bad_name.example.com"'],
    [["--dns", "example.com."], '--dns: expected a DNS name like "fluxgate.example.com", got "example.com."'],
    [["--service", "Fluxgate"], '--service: expected a Kubernetes name (lower-case letters, digits and "-", at most 63), got "Fluxgate"'],
    [["--namespace", "flux.system"], '--namespace: expected a Kubernetes name (lower-case letters, digits and "-", at most 63), got "flux.system"'],
    [["--dir", ""], "--dir: expected a directory path, got an empty string"],
  ];
  for (const [argv, message] of cases) {
    it(`refuses ${argv.join(" ")}`, async () => {
      const cwd = freshCwd();
      await assert.rejects(certs(argv, cwd), (e: unknown) => {
        assert.ok(e instanceof UsageError);
        assert.equal(e.message, message);
        return true;
      });
      assert.equal(existsSync(cwd), false);
    });
  }

  it("accepts --renew-before 720h, 1d12h and 0", async () => {
    const cwd = freshCwd();
    for (const d of ["720h", "1d12h", "0"]) assert.equal((await certs(["--renew-before", d, "--output", "ca"], cwd)).code, 0);
  });
});
