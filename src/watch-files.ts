/**
 * Notices when files change on disk: a watch on each file's directory (Kubernetes swaps a `..data` symlink in a
 * mounted Secret or ConfigMap, which a watch on the file itself misses) plus a poll, because change events get lost
 * (controller-runtime's certwatcher polls for the same reason). A change is a change of content, not of mtime.
 */
import { watch } from "node:fs";
import type { FSWatcher } from "node:fs";
import { readFile } from "node:fs/promises";
import { dirname } from "node:path";

export type FileWatchOptions = {
  /** Poll period in ms; events only make changes show sooner. */
  intervalMs: number;
  /** Called once per change of any file's content (after a short debounce so a pair written together is one call). */
  onChange: () => void | Promise<void>;
  /** Quiet period after an event before reading, so a writer can finish. Default 50 ms. */
  debounceMs?: number;
};

export type FileWatch = { close(): void; /** Checks now; resolves after onChange ran if something changed. */ check(): Promise<boolean> };

const read = (path: string): Promise<string> => readFile(path, "utf8").catch(() => "\u0000missing");

/**
 * Watches files and calls `onChange` when any content differs from what it last saw.
 * @example const w = await watchFiles(["/etc/fluxgate/tls.crt", "/etc/fluxgate/tls.key"], { intervalMs: 10_000, onChange: reload })
 */
export async function watchFiles(paths: string[], options: FileWatchOptions): Promise<FileWatch> {
  let seen = await Promise.all(paths.map(read));
  let closed = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let running: Promise<boolean> | undefined;

  const check = async (): Promise<boolean> => {
    if (closed) return false;
    if (running !== undefined) return running;
    running = (async () => {
      const now = await Promise.all(paths.map(read));
      const changed = now.some((c, i) => c !== seen[i]);
      seen = now;
      if (changed && !closed) await options.onChange();
      return changed;
    })().finally(() => {
      running = undefined;
    });
    return running;
  };
  const soon = () => {
    if (timer !== undefined) clearTimeout(timer);
    timer = setTimeout(() => void check().catch(() => {}), options.debounceMs ?? 50);
  };

  const watchers: FSWatcher[] = [];
  for (const dir of new Set(paths.map((p) => dirname(p)))) {
    try {
      const w = watch(dir, { persistent: false }, soon);
      w.on("error", () => {}); // the directory may vanish; the poll keeps working
      watchers.push(w);
    } catch {
      // Directory missing or watch unsupported: the poll alone still notices changes.
    }
  }
  const poll = setInterval(() => void check().catch(() => {}), options.intervalMs);
  poll.unref?.();

  return {
    check,
    close() {
      closed = true;
      clearInterval(poll);
      if (timer !== undefined) clearTimeout(timer);
      for (const w of watchers) w.close();
    },
  };
}
