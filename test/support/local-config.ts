/** Test configurations: every listener on 127.0.0.1 with a free port, plus the lines a test adds. */
import { join } from "node:path";
import { parseConfig } from "../../src/config/load.ts";
import type { Config } from "../../src/config/schema.ts";

export const LOCAL_LISTENERS = ["listen:", '  admission: "127.0.0.1:0"', '  receiver: "127.0.0.1:0"', '  metrics: "127.0.0.1:0"', '  health: "127.0.0.1:0"'];

/**
 * The YAML text: the local listeners, then `lines` (top-level keys other than `listen`), then — unless the lines set
 * `kube` — `kube: {mode: off}`, so a test never talks to a cluster a developer's kubeconfig happens to point at.
 */
export function localConfigText(lines: string[]): string {
  const kube = lines.some((l) => l.startsWith("kube:")) ? [] : ["kube: {mode: off}"];
  return [...LOCAL_LISTENERS, ...lines, ...kube].join("\n");
}

/** Parsed as if read from `<dir>/fluxgate.yaml`. */
export function localConfig(dir: string, lines: string[]): Config {
  return parseConfig(localConfigText(lines), join(dir, "fluxgate.yaml"));
}
