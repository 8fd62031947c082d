/** A counting limit on concurrent work (streams in flight). Acquire returns a release function or nothing. */
export class ConcurrencyLimit {
  #active = 0;
  readonly max: number;

  constructor(max: number) {
    this.max = max;
  }

  /** Streams in flight now. */
  get active(): number {
    return this.#active;
  }

  /** Takes a slot, or returns undefined when all are taken. The release function is idempotent. */
  tryAcquire(): (() => void) | undefined {
    if (this.#active >= this.max) return undefined;
    this.#active++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#active--;
    };
  }
}
