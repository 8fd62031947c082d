/** Harmony: rendering conversations for gpt-oss and parsing its channels. */
export { type Piece, piecesToText, SPECIAL_TOKENS, type SpecialName, textToPieces } from "./pieces.ts";
export {
  type DeveloperContent,
  type FunctionTool,
  type HarmonyMessage,
  renderConversation,
  renderMessage,
  type RenderOptions,
  type SystemContent,
} from "./render.ts";
export { HarmonyParser, type MessageHeader, type ParsedMessage, parseHeader, type ParserEvent } from "./parser.ts";
