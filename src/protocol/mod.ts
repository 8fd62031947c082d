/**
 * Protocol v2: Oblivious HTTP (RFC 9458) and chunked OHTTP carrying Binary HTTP (RFC 9292), the chat
 * request inside it, padding, events, response framing, replay guard.
 */
export * from "./errors.ts";
export * from "./varint.ts";
export * from "./bhttp.ts";
export * from "./ohttp.ts";
export * from "./padding.ts";
export * from "./inner_request.ts";
export * from "./chat_request.ts";
export * from "./events.ts";
export * from "./replay_guard.ts";
export * from "./coalesce_stream.ts";
export * from "./seal_stream.ts";
export * from "./response_reader.ts";
export * from "./bhttp_stream.ts";
export * from "./device_proof.ts";
export * from "./proof_of_work_solver.ts";
