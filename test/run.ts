/**
 * `npm test` after `tsc --noEmit`: runs the same node:test files under Node 24, Bun and Deno, one runtime after
 * the other, and fails if any runtime fails. `node test/run.ts bun deno` runs only the runtimes named.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";

const root = join(import.meta.dirname, "..");
const bin = (name: string) => join(root, "node_modules", ".bin", name);

type Runtime = { name: string; command: string; args: string[]; counts: (out: string) => { passed: number; failed: number } };

const last = (out: string, re: RegExp): number => {
  const all = [...out.matchAll(re)];
  const m = all[all.length - 1];
  return m?.[1] === undefined ? 0 : Number(m[1]);
};

const runtimes: Runtime[] = [
  {
    name: "node",
    command: bin("node"),
    args: ["--test", "--test-timeout=120000", "--test-concurrency=1", "test/**/*.test.ts"],
    counts: (out) => ({ passed: last(out, /^ℹ pass (\d+)$/gm), failed: last(out, /^ℹ fail (\d+)$/gm) }),
  },
  {
    name: "bun",
    command: bin("bun"),
    args: ["test", "--timeout", "120000", "test/"],
    counts: (out) => ({ passed: last(out, /^\s*(\d+) pass$/gm), failed: last(out, /^\s*(\d+) fail$/gm) }),
  },
  {
    name: "deno",
    command: bin("deno"),
    args: ["test", "-A", "--no-check", "test/"],
    counts: (out) => {
      // "ok | 12 passed (30 steps) | 0 failed" — steps are the node:test `it`s inside a `describe`.
      const clean = out.replace(/\x1b\[[0-9;]*m/g, "");
      const m = /(?:ok|FAILED) \| (\d+) passed(?: \((\d+) steps?\))? \| (\d+) failed(?: \((\d+) steps?\))?/.exec(clean);
      if (m === null) return { passed: 0, failed: 0 };
      return { passed: Number(m[2] ?? m[1]), failed: Number(m[4] ?? m[3]) };
    },
  },
];

const wanted = process.argv.slice(2);
for (const w of wanted) {
  if (!runtimes.some((r) => r.name === w)) {
    console.error(`test/run.ts: unknown runtime "${w}"; expected one of ${runtimes.map((r) => r.name).join(", ")}`);
    process.exit(2);
  }
}
const selected = wanted.length === 0 ? runtimes : runtimes.filter((r) => wanted.includes(r.name));

function run(rt: Runtime): Promise<{ code: number; out: string; ms: number }> {
  if (!existsSync(rt.command)) {
    return Promise.resolve({ code: 127, out: `${rt.command} is missing: run npm ci`, ms: 0 });
  }
  const started = performance.now();
  return new Promise((resolve) => {
    const child = spawn(rt.command, rt.args, {
      cwd: root,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, FORCE_COLOR: "0", NO_COLOR: "1", FLUXGATE_TEST_RUNTIME: rt.name },
    });
    let out = "";
    const take = (to: NodeJS.WriteStream) => (chunk: Buffer) => {
      out += chunk.toString();
      to.write(chunk);
    };
    child.stdout.on("data", take(process.stdout));
    child.stderr.on("data", take(process.stderr));
    child.on("error", (e) => resolve({ code: 127, out: String(e), ms: performance.now() - started }));
    child.on("close", (code, signal) => resolve({ code: code ?? (signal === null ? 1 : 128), out, ms: performance.now() - started }));
  });
}

let failedRuntimes = 0;
let passed = 0;
let failed = 0;
const summary: string[] = [];
for (const rt of selected) {
  console.log(`\n=== runtime: ${rt.name} (${rt.command} ${rt.args.join(" ")}) ===\n`);
  const r = await run(rt);
  const c = rt.counts(r.out);
  passed += c.passed;
  failed += c.failed;
  const ok = r.code === 0 && c.failed === 0 && c.passed > 0;
  if (!ok) failedRuntimes++;
  summary.push(`${rt.name.padEnd(5)} ${ok ? "ok    " : "FAILED"} ${c.passed} passed, ${c.failed} failed, exit ${r.code}, ${(r.ms / 1000).toFixed(1)} s`);
}
console.log(`\n=== summary ===\n${summary.join("\n")}`);
console.log(`${passed} passed, ${failed + (failedRuntimes > 0 && failed === 0 ? failedRuntimes : 0)} failed`);
process.exit(failedRuntimes === 0 ? 0 : 1);
