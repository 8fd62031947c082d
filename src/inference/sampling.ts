/**
 * Parameter firewall: only known sampling parameters reach llama-server, clamped to safe ranges (extreme
 * values have crashed it); anything else is dropped. The request schema already bounds them; this is the
 * second, independent line.
 */
import type { ChatRequest } from "../protocol/mod.ts";

const _clamp = (value: number, min: number, max: number) => Math.min(max, Math.max(min, value));

/** The sampling fields sent upstream. */
export function clampSampling(
  request: Pick<ChatRequest, "temperature" | "top_p">,
): { temperature: number; top_p: number } {
  const temperature = Number.isFinite(request.temperature) ? request.temperature! : 1;
  const topP = Number.isFinite(request.top_p) ? request.top_p! : 1;
  return { temperature: _clamp(temperature, 0, 2), top_p: _clamp(topP, 0.01, 1) };
}
