/**
 * Readiness of a process as a set of named checks (`tls`, `bus`, `inventory`, …), one per thing a role needs.
 * `/readyz` is 200 only while every registered check is ready and the process is not shutting down.
 */
export type CheckState = { ready: boolean; reason: string; since: Date };

export class Readiness {
  #checks = new Map<string, CheckState>();
  #shuttingDown = false;
  #now: () => Date;

  constructor(now: () => Date = () => new Date()) {
    this.#now = now;
  }

  /** Adds a check that starts not ready; a role registers its checks before it starts. */
  register(name: string, reason = "starting"): void {
    if (!this.#checks.has(name)) this.#checks.set(name, { ready: false, reason, since: this.#now() });
  }

  /** Records the current state of a check; registers it if needed. */
  set(name: string, ready: boolean, reason = ready ? "ok" : "not ready"): void {
    const prev = this.#checks.get(name);
    if (prev !== undefined && prev.ready === ready && prev.reason === reason) return;
    this.#checks.set(name, { ready, reason, since: this.#now() });
  }

  /** From now on the process reports not ready, so load balancers stop sending it traffic. */
  shutdown(): void {
    this.#shuttingDown = true;
  }

  get shuttingDown(): boolean {
    return this.#shuttingDown;
  }

  get ready(): boolean {
    if (this.#shuttingDown) return false;
    for (const c of this.#checks.values()) if (!c.ready) return false;
    return true;
  }

  checks(): Array<{ name: string } & CheckState> {
    return [...this.#checks].map(([name, s]) => ({ name, ...s })).sort((a, b) => a.name.localeCompare(b.name));
  }
}
