/** Inference: the Generator interface, llama-server supervision, transports, routing and Harmony backend. */
export { EchoGenerator, type Generator } from "./generator.ts";
export { type CompletionChunk, type Deadlines, LlamaClient, type Transport } from "./llama_client.ts";
export { llamaServerArgs, type LlamaServerOptions } from "./llama_args.ts";
export {
  DEFAULT_TIMING,
  preparePrivateDir,
  Supervisor,
  type SupervisorState,
  type SupervisorTiming,
} from "./supervisor.ts";
export {
  type Backend,
  type CircuitPolicy,
  type CircuitState,
  type Lease,
  probedBackend,
  Router,
} from "./router.ts";
export {
  COMPLETION_FIELDS,
  DEMO_SAMPLERS,
  HarmonyGenerator,
  type HarmonyGeneratorOptions,
} from "./harmony_generator.ts";
export { clampSampling } from "./sampling.ts";
export {
  generateTinyModel,
  HARMONY_SPECIAL_TOKENS,
  type ModelShape,
  OTHER_CONTROL_TOKENS,
  TINY_SHAPE,
  tinyModelVocabulary,
} from "./tiny_model.ts";
export {
  type NodeObserver,
  type NodeServer,
  type NodeServerOptions,
  startNodeServer,
} from "./node_server.ts";
export { ChatTemplateGenerator, type ChatTemplateGeneratorOptions } from "./chat_template_generator.ts";
export { failover, type FailoverOptions } from "./failover.ts";
export {
  discoverSpecialTokenIds,
  knownO200kSpecialTokenIds,
  MAX_VOCABULARY_SIZE,
  vocabularySize,
} from "./special_tokens.ts";
export { DEMO_MODEL_FILE, demoModelFile } from "./demo_model.ts";
export { lockRuntimeDir, RUNTIME_LOCK_FILE, type RuntimeLock } from "./runtime_lock.ts";
