/**
 * Counts triggers that were replaced on FLUXGATE_TRIGGERS before anyone applied them (the stream keeps one message
 * per object, so a burst leaves only its newest). JetStream does not say when a publish replaces a message, so the
 * router notes the sequence of each trigger it stores and the applier, on receiving a trigger, counts the older ones
 * of the same object it never received. Exact with one worker process; with several, each counts the replacements of
 * triggers its own router stored and its own applier received.
 */

/** Subjects remembered at most; the oldest are forgotten first. */
const MAX_SUBJECTS = 50_000;

export class CoalescingCounter {
  readonly #published = new Map<string, number[]>();

  /** The router stored a trigger on `subject` at `seq`. */
  published(subject: string, seq: number): void {
    const seqs = this.#published.get(subject);
    if (seqs !== undefined) {
      seqs.push(seq);
      return;
    }
    if (this.#published.size >= MAX_SUBJECTS) {
      const oldest = this.#published.keys().next().value;
      if (oldest !== undefined) this.#published.delete(oldest);
    }
    this.#published.set(subject, [seq]);
  }

  /** The applier received the trigger at `seq`: returns how many older triggers of the subject it will never see. */
  delivered(subject: string, seq: number): number {
    const seqs = this.#published.get(subject);
    if (seqs === undefined) return 0;
    const older = seqs.filter((s) => s < seq).length;
    const rest = seqs.filter((s) => s > seq);
    if (rest.length === 0) this.#published.delete(subject);
    else this.#published.set(subject, rest);
    return older;
  }
}
