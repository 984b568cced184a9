/** `fluxgate windows`: every window, active or not at an instant, and its next starts and ends. */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { main } from "../../src/cli/main.ts";

const WINDOWS = `windows:
  - name: business-hours
    kind: allow
    schedule: "0 9 * * 1-5"
    duration: 8h
    timeZone: Europe/Berlin
    match: { tenants: [dev-team], kinds: [Kustomization, HelmRelease] }
    manualReconcile: true
  - name: year-end-freeze
    kind: deny
    description: CHG-2026-12
    timeZone: Europe/Berlin
    ranges: [{ start: "2026-12-19", end: "2027-01-04T06:00" }]
    freeze: true
  - name: ops-nights
    kind: deny
    schedule: "0 22 * * *"
    duration: 8h
    match: { tenants: [ops], labels: { matchLabels: { tier: prod } } }
breakGlass:
  groups: [platform-oncall]
`;

describe("fluxgate windows", () => {
  let dir: string;
  const run = async (...argv: string[]) => {
    let out = "";
    let err = "";
    const code = await main(["windows", ...argv], { out: (t) => (out += t), err: (t) => (err += t), env: {}, cwd: dir });
    return { code, out, err };
  };

  before(() => {
    dir = mkdtempSync(join(tmpdir(), "fluxgate-windows-"));
    writeFileSync(join(dir, "windows.yaml"), WINDOWS);
    writeFileSync(join(dir, "bad.yaml"), "windows:\n  - name: w\n    kind: allow\n    schedule: '0 9 * *'\n    duration: 8h\n");
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("prints every window, active or not, with its next two transitions in its zone and in UTC", async () => {
    const r = await run("--windows", "windows.yaml", "--at", "2026-12-24T10:00:00Z");
    assert.equal(r.code, 0);
    assert.equal(r.err, "");
    assert.equal(
      r.out,
      [
        "Deployment windows at 2026-12-24T10:00:00Z:",
        "",
        "WINDOW           KIND   STATE     ZONE           SCHEDULE                        APPLIES TO                                         NEXT                                            THEN",
        "business-hours   allow  active    Europe/Berlin  0 9 * * 1-5 for 8h              tenants dev-team; kinds Kustomization,HelmRelease  ends 2026-12-24 17:00 (2026-12-24T16:00:00Z)    starts 2026-12-25 09:00 (2026-12-25T08:00:00Z)",
        "year-end-freeze  deny   active    Europe/Berlin  2026-12-19 to 2027-01-04T06:00  everything                                         ends 2027-01-04 06:00 (2027-01-04T05:00:00Z)    -",
        "ops-nights       deny   inactive  UTC            0 22 * * * for 8h               tenants ops; labels tier=prod                      starts 2026-12-24 22:00 (2026-12-24T22:00:00Z)  ends 2026-12-25 06:00 (2026-12-25T06:00:00Z)",
        "",
      ].join("\n"),
    );
  });

  it("shows only the windows that concern a tenant, as JSON", async () => {
    const r = await run("--windows", "windows.yaml", "--at", "2026-12-24T11:00:00+01:00", "--tenant", "dev-team", "--output", "json");
    assert.equal(r.code, 0);
    assert.deepEqual(JSON.parse(r.out), {
      at: "2026-12-24T10:00:00Z",
      tenant: "dev-team",
      windows: [
        {
          name: "business-hours",
          kind: "allow",
          timeZone: "Europe/Berlin",
          schedule: "0 9 * * 1-5",
          duration: "8h",
          match: { tenants: ["dev-team"], kinds: ["Kustomization", "HelmRelease"] },
          manualReconcile: true,
          freeze: false,
          active: true,
          next: [
            { at: "2026-12-24T16:00:00Z", local: "2026-12-24 17:00", active: false },
            { at: "2026-12-25T08:00:00Z", local: "2026-12-25 09:00", active: true },
          ],
        },
        {
          name: "year-end-freeze",
          kind: "deny",
          description: "CHG-2026-12",
          timeZone: "Europe/Berlin",
          ranges: [{ start: "2026-12-19", end: "2027-01-04T06:00" }],
          match: {},
          manualReconcile: false,
          freeze: true,
          active: true,
          next: [{ at: "2027-01-04T05:00:00Z", local: "2027-01-04 06:00", active: false }],
        },
      ],
    });
  });

  it("says so when there are no windows", async () => {
    assert.deepEqual(await run("--at", "2026-12-24T10:00:00Z"), { code: 0, out: "No deployment windows are configured.\n", err: "" });
    assert.deepEqual(await run("--windows", "windows.yaml", "--tenant", "nobody", "--at", "2026-12-24T10:00:00Z"), {
      code: 0,
      out: "Deployment windows for tenant nobody at 2026-12-24T10:00:00Z:\n\nWINDOW           KIND  STATE   ZONE           SCHEDULE                        APPLIES TO  NEXT                                          THEN\nyear-end-freeze  deny  active  Europe/Berlin  2026-12-19 to 2027-01-04T06:00  everything  ends 2027-01-04 06:00 (2027-01-04T05:00:00Z)  -\n",
      err: "",
    });
  });

  it("rejects a time without a zone, an unknown output and a bad windows file", async () => {
    assert.deepEqual(await run("--at", "2026-12-24T10:00:00"), {
      code: 2,
      out: "",
      err: 'fluxgate: windows: --at must be an RFC 3339 time with a zone, like 2026-12-24T18:00:00Z or 2026-12-24T19:00:00+01:00; got "2026-12-24T10:00:00"\n',
    });
    assert.deepEqual(await run("--output", "yaml"), { code: 2, out: "", err: 'fluxgate: windows: --output must be text or json, got "yaml"\n' });
    const bad = await run("--windows", "bad.yaml");
    assert.equal(bad.code, 1);
    assert.equal(
      bad.err,
      `fluxgate: invalid configuration ${join(dir, "bad.yaml")}: windows[0].schedule: expected 5 fields (minute hour day-of-month month day-of-week) like "0 9 * * 1-5", got "0 9 * *"\n`,
    );
    const missing = await run("--windows", "nope.yaml");
    assert.deepEqual([missing.code, missing.err], [1, `fluxgate: invalid configuration ${join(dir, "nope.yaml")}: (top level): cannot read the file: no such file\n`]);
  });
});
