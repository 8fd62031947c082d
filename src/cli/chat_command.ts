/**
 * `privacy-gateway chat`: sends one Oblivious HTTP request through the SDK (X-Wing by default; through an
 * OHTTP relay with `--relay`) and prints the answer as it streams.
 */
import {
  GatewayClient,
  GatewayRequestError,
  KeyVerificationError,
  ResponseIntegrityError,
} from "../client/mod.ts";

const _LOOPBACK_URL = /^https?:\/\/(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?\/?$/;

/** Runs the chat command; returns the process exit code. */
export async function chatCommand(
  options: { url: string; pin?: string; relay?: string; json: boolean; maxTokens?: number; prompt: string },
  io: { write: (text: string) => void; error: (text: string) => void },
): Promise<number> {
  const unpinned = !options.pin;
  if (unpinned && !_LOOPBACK_URL.test(options.url)) {
    io.error(
      "Pass --pin FINGERPRINT: only a gateway on this machine may be used without a pinned identity\n",
    );
    return 2;
  }
  const client = new GatewayClient({
    baseUrl: options.url,
    pin: options.pin,
    allowUnpinned: unpinned,
    // Token mode when the gateway's signed key set lists token keys (PG_AUTH=token).
    auth: "auto",
    ...(options.relay ? { relayUrl: options.relay } : {}),
  });
  try {
    await client.keys();
    if (unpinned) {
      io.error(`warning: identity not pinned (development only); fingerprint ${client.fingerprint}\n`);
    }
    const tokens = client.tokenMode;
    // Refill ahead of the request (a one-shot CLI has no quieter moment; an app does this at start).
    if (tokens) await client.prefetchTokens();
    const reportTokens = async () => {
      if (!tokens) return;
      const left = await client.tokensLeft();
      if (options.json) io.write(JSON.stringify({ tokens_left: left }) + "\n");
      else io.error(`tokens left: ${left}\n`);
    };
    for await (
      const event of client.chat({
        messages: [{ role: "user", content: options.prompt }],
        ...(options.maxTokens ? { max_tokens: options.maxTokens } : {}),
      })
    ) {
      if (options.json) io.write(JSON.stringify(event) + "\n");
      else if (event.type === "text") io.write(event.delta);
      else if (event.type === "tool_call") io.write(`\n[tool call ${event.name} ${event.arguments}]\n`);
      else if (event.type === "done") io.write("\n");
      else if (event.type === "error") {
        io.error(`error: ${event.code}: ${event.message}\n`);
        await reportTokens();
        return 1;
      }
    }
    await reportTokens();
    return 0;
  } catch (error) {
    if (
      error instanceof GatewayRequestError || error instanceof KeyVerificationError ||
      error instanceof ResponseIntegrityError
    ) {
      io.error(`error: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
}
