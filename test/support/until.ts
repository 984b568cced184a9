/** Waits for a condition in tests without fixed sleeps. */
export async function until(pred: () => boolean | Promise<boolean>, options: { timeoutMs?: number; what?: string } = {}): Promise<void> {
  const end = Date.now() + (options.timeoutMs ?? 5000);
  while (!(await pred())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${options.what ?? "a condition"}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
