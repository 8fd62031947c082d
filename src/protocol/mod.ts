/** Protocol v1: request envelope, padding, chat request schema, events, response framing, replay guard. */
export * from "./errors.ts";
export * from "./request_header.ts";
export * from "./padding.ts";
export * from "./chat_request.ts";
export * from "./events.ts";
export * from "./envelope.ts";
export * from "./replay_guard.ts";
export * from "./coalesce_stream.ts";
export * from "./seal_stream.ts";
export * from "./response_reader.ts";
export * from "./device_proof.ts";
export * from "./proof_of_work_solver.ts";
