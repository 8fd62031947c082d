/** HTTP: the Hono app, the chat handler and key publishing. */
export { type AppDeps, type ConnectionInfo, createApp } from "./app.ts";
export { type ChatHandlerDeps, handleChat } from "./chat_handler.ts";
export { KeyPublisher, type PubkeyDocument } from "./key_publisher.ts";
export {
  type ClientConnection,
  type EdgeLimits,
  listen,
  type Listener,
  type ListenerOptions,
} from "./listener.ts";
