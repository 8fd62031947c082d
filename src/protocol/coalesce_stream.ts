/**
 * Response stage: collects events for one tick and emits them as one batch, merging adjacent text
 * deltas. Chunk timing then follows the tick, not the token rate, and one chunk carries many tokens, so
 * neither sizes nor timing reveal individual token lengths (Weiss et al. 2024; "Whisper Leak" 2025).
 * A terminal event (`done`/`error`) flushes at once and ends the stream. The first batch is sent at once
 * too: when the answer starts is visible anyway, and waiting a tick would only add latency.
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

/** Creates the coalescing stage; `tickMs` 0 emits each event as its own batch (tests, benchmarks). */
export function createCoalesceStream(
  tickMs: number,
  clock: TickTimer = _REAL_TIMER,
): TransformStream<ChatEvent, ChatEvent[]> {
  let pending: ChatEvent[] = [];
  let timer: unknown;
  let ended = false;
  let first = true;
  const flush = (controller: TransformStreamDefaultController<ChatEvent[]>) => {
    if (timer !== undefined) clock.clear(timer);
    timer = undefined;
    if (pending.length > 0) controller.enqueue(pending);
    pending = [];
  };
  return new TransformStream<ChatEvent, ChatEvent[]>({
    transform(event, controller) {
      if (ended) return;
      const last = pending.at(-1);
      if (last && (last.type === "text" || last.type === "reasoning") && last.type === event.type) {
        pending[pending.length - 1] = { type: last.type, delta: last.delta + (event as typeof last).delta };
      } else {
        pending.push(event);
      }
      if (isTerminal(event)) {
        ended = true;
        flush(controller);
      } else if (tickMs <= 0 || first) {
        first = false;
        flush(controller);
      } else if (timer === undefined) {
        timer = clock.set(() => flush(controller), tickMs);
      }
    },
    flush(controller) {
      flush(controller);
    },
    cancel() {
      if (timer !== undefined) clock.clear(timer);
    },
  });
}
