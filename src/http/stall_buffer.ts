/**
 * The last stage of a streamed answer: it drives the pipeline behind it on its own, so generation never
 * waits for the client, and buffers at most `maxBytes` for a client that reads slowly. If the client
 * takes nothing for `stallMs` while the buffer is full, `onStall` cancels the generation and what is
 * left is queued and closed. Without it a client that stopped reading held its stream and device slots
 * until it read or left (issue #10, finding 4: still held 8 s after the deadline with 3.7 MiB queued).
 */

/** Bytes buffered for one slow client before the stall clock starts. */
export const STALL_BUFFER_BYTES = 64 * 1024;

/** Wraps `source` (bytes) so it is pumped eagerly into a bounded buffer with a stall deadline. */
export function stallGuarded(
  source: ReadableStream<Uint8Array>,
  stallMs: number,
  onStall: () => void,
  maxBytes = STALL_BUFFER_BYTES,
): ReadableStream<Uint8Array> {
  const reader = source.getReader();
  let wake: (() => void) | undefined;
  let cancelled = false;
  return new ReadableStream<Uint8Array>({
    start(controller) {
      (async () => {
        let stalled = false;
        while (!cancelled) {
          if (!stalled && (controller.desiredSize ?? 0) <= 0) {
            const pulled = await new Promise<boolean>((resolve) => {
              const timer = setTimeout(() => resolve(false), stallMs);
              wake = () => {
                clearTimeout(timer);
                resolve(true);
              };
            });
            wake = undefined;
            if (!pulled) {
              // Ends generation; the pipeline then yields its final (error) chunk, queued past the bound.
              stalled = true;
              onStall();
            }
            continue;
          }
          const { done, value } = await reader.read();
          if (cancelled) return;
          if (done) return controller.close();
          controller.enqueue(value);
        }
      })().catch((error) => {
        if (!cancelled) controller.error(error);
      });
    },
    pull() {
      wake?.();
    },
    async cancel(reason) {
      cancelled = true;
      wake?.();
      await reader.cancel(reason);
    },
  }, new ByteLengthQueuingStrategy({ highWaterMark: maxBytes }));
}
