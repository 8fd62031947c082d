/** Harmony: rendering conversations for gpt-oss and parsing its channels. */
export { type Piece, piecesToText, SPECIAL_TOKENS, type SpecialName, textToPieces } from "./pieces.ts";
export {
  type DeveloperContent,
  type FunctionTool,
  type HarmonyMessage,
  renderConversation,
  renderMessage,
  type RenderOptions,
  type ResponseFormat,
  type SystemContent,
} from "./render.ts";
export {
  HarmonyParser,
  type MessageHeader,
  type ParsedMessage,
  parseHeader,
  type ParserEvent,
} from "./parser.ts";
export {
  InjectionDetectedError,
  piecesToTokenIds,
  piecesToTokenIdsLocal,
  type SpecialTokenIds,
  splitUntrustedText,
  TrustedTokenCache,
} from "./safe_tokens.ts";
export {
  conversationFor,
  DEFAULT_POLICY,
  type HarmonyPolicy,
  VERBOSITY_MAX_TOKENS,
  VERBOSITY_TEMPLATES,
} from "./chat_policy.ts";
export { AnswerFilter } from "./answer_filter.ts";
export { chunkPieces } from "./chunk_pieces.ts";
