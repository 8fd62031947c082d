/**
 * Response stage: collects events for one tick and emits them as one batch, merging adjacent text
 * deltas. Chunk timing then follows the tick, not the token rate, and one chunk carries many tokens, so
 * neither sizes nor timing reveal individual token lengths (Weiss et al. 2024; "Whisper Leak" 2025).
 * A terminal event (`done`/`error`) flushes at once and ends the stream. The first batch is sent at once
 * too: when the answer starts is visible anyway, and waiting a tick would only add latency.
 *
 * It reads its source itself (an async iterable of events) rather than being a TransformStream: events
 * arrive one per token, and a pipe into a TransformStream cost several promise hops per event
 * (docs/benchmarks.md, "Per-token work"); here an event costs one `next()`, and stream machinery runs once
 * per batch. It pulls only while its reader wants a batch, so backpressure still reaches the source.
 *
 * The tick is sized for the gateway's capacity ({@link streamTickMs}), once, from its configuration: each
 * batch costs the gateway's thread a sealed chunk and a socket write (~100 µs at 32 streams,
 * docs/benchmarks.md "What a tick costs"). It never follows the live load: a tick that lengthened with the
 * number of running streams would tell any client, timing its own chunks, when other streams start and end
 * (and a client holding streams could probe that count exactly).
 */
import { type ChatEvent, isTerminal } from "./events.ts";

/** The timer the stage uses; tests inject a manual one instead of sleeping. */
export interface TickTimer {
  set(callback: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

const _REAL_TIMER: TickTimer = {
  set: (callback, ms) => setTimeout(callback, ms),
  clear: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/** How the tick is sized for capacity: see {@link streamTickMs}. */
export interface StreamTickOptions {
  /** The shortest tick; 0 emits each event as its own batch. */
  baseMs: number;
  /** The longest a tick is lengthened to (a base above it is kept as is). */
  maxMs: number;
  /** Chunks per second all streams may cost together at full capacity; 0 keeps the base tick. */
  chunksPerSecond: number;
}

/**
 * The tick for a gateway that runs up to `capacity` streams: the base tick if one chunk per stream per
 * tick stays within `chunksPerSecond` at full capacity, else lengthened in whole base ticks until it does,
 * at most `maxMs` (defaults: 50 ms up to 16 streams, 100 ms for 32, 250 ms from 65).
 */
export function streamTickMs(options: StreamTickOptions, capacity: number): number {
  const { baseMs, maxMs, chunksPerSecond } = options;
  if (baseMs <= 0 || chunksPerSecond <= 0) return baseMs;
  const needed = Math.ceil((capacity * 1000) / chunksPerSecond / baseMs) * baseMs;
  return Math.max(baseMs, Math.min(maxMs, needed));
}

/** Options of {@link coalesceEvents}. */
export interface CoalesceOptions {
  /** Tick; 0 emits each event as its own batch (tests, benchmarks). */
  tickMs: number;
  clock?: TickTimer;
  /** Called once when the reader cancels (the client went away), before the source is returned. */
  onCancel?: () => void;
}

/** Batches the events of `source` per tick (see above); the stream ends after a terminal event. */
export function coalesceEvents(
  source: AsyncIterable<ChatEvent>,
  options: CoalesceOptions,
): ReadableStream<ChatEvent[]> {
  const { tickMs } = options;
  const clock = options.clock ?? _REAL_TIMER;
  const iterator = source[Symbol.asyncIterator]();
  let pending: ChatEvent[] = [];
  let timer: unknown;
  let ended = false;
  /** Set once the reader has cancelled: nothing is enqueued or armed after it, whatever still arrives. */
  let cancelled = false;
  let first = true;
  /** Set by every enqueue: a pull returns once it has produced something (or the source ended). */
  let produced = false;
  let controller!: ReadableStreamDefaultController<ChatEvent[]>;
  const stopTick = () => {
    if (timer !== undefined) clock.clear(timer);
    timer = undefined;
  };
  const flush = () => {
    stopTick();
    // An event still in flight when the client left (the source's cleanup can outlast a tick) is dropped:
    // an enqueue into the cancelled stream would throw from a timer, ending the process.
    if (pending.length === 0 || cancelled) return;
    const batch = pending;
    pending = [];
    controller.enqueue(batch);
    produced = true;
  };
  const push = (event: ChatEvent) => {
    if (cancelled) return;
    const last = pending.at(-1);
    if (last && (last.type === "text" || last.type === "reasoning") && last.type === event.type) {
      pending[pending.length - 1] = { type: last.type, delta: last.delta + (event as typeof last).delta };
    } else {
      pending.push(event);
    }
    if (isTerminal(event)) {
      ended = true;
      flush();
    } else if (tickMs <= 0 || first) {
      first = false;
      flush();
    } else if (timer === undefined) {
      timer = clock.set(flush, tickMs);
    }
  };
  return new ReadableStream<ChatEvent[]>({
    start(c) {
      controller = c;
    },
    async pull(c) {
      produced = false;
      while (!produced && !cancelled) {
        let next: IteratorResult<ChatEvent>;
        try {
          next = await iterator.next();
        } catch (error) {
          // The stream errors: no tick may enqueue into it afterwards.
          stopTick();
          throw error;
        }
        const { done, value } = next;
        if (done) {
          flush();
          c.close();
          return;
        }
        push(value);
        if (ended) {
          // Nothing follows a terminal event: the source is finished (its cleanup runs now).
          c.close();
          await iterator.return?.();
          return;
        }
      }
    },
    async cancel() {
      cancelled = true;
      pending = [];
      stopTick();
      options.onCancel?.();
      await iterator.return?.();
    },
  }, { highWaterMark: 0 });
}
