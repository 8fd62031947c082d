/** Inference: the Generator interface and its backends. */
export { EchoGenerator, type Generator } from "./generator.ts";
