/**
 * `privacy-gateway harmony render|parse`: the Harmony layer as a faithful renderer/parser of the
 * reference data model, independent of the gateway's own policy (README "Harmony debug commands").
 */
import { z } from "zod";
import { HarmonyParser, piecesToText, renderConversation, textToPieces } from "../harmony/mod.ts";

const _opt = (schema: z.ZodType) => schema.nullable().optional();

const _renderInput = z.strictObject({
  messages: z.array(z.union([
    z.strictObject({
      role: z.literal("system"),
      system: z.strictObject({
        model_identity: _opt(z.string()),
        knowledge_cutoff: _opt(z.string()),
        conversation_start_date: _opt(z.string()),
        reasoning_effort: _opt(z.enum(["low", "medium", "high"])),
        valid_channels: _opt(z.array(z.string())),
        channel_required: _opt(z.boolean()),
      }),
    }),
    z.strictObject({
      role: z.literal("developer"),
      developer: z.strictObject({
        instructions: _opt(z.string()),
        function_tools: _opt(z.array(z.strictObject({
          name: z.string(),
          description: z.string().default(""),
          parameters: _opt(z.record(z.string(), z.unknown())),
        }))),
      }),
    }),
    z.strictObject({
      role: z.enum(["user", "assistant", "tool"]),
      name: _opt(z.string()),
      channel: _opt(z.string()),
      recipient: _opt(z.string()),
      content_type: _opt(z.string()),
      content: z.string(),
    }),
  ])),
  render_mode: z.enum(["completion", "conversation"]).default("completion"),
  auto_drop_analysis: z.boolean().default(true),
});

/** Renders JSON input to Harmony text; returns the exit code. */
export function harmonyRenderCommand(
  input: string,
  io: { write: (t: string) => void; error: (t: string) => void },
): number {
  let json: unknown;
  try {
    json = JSON.parse(input);
  } catch {
    io.error("Cannot render: stdin is not valid JSON\n");
    return 2;
  }
  const parsed = _renderInput.safeParse(json);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      io.error(`Cannot render: ${issue.path.join(".") || "(input)"}: ${issue.message}\n`);
    }
    return 2;
  }
  try {
    const pieces = renderConversation(parsed.data.messages as Parameters<typeof renderConversation>[0], {
      mode: parsed.data.render_mode,
      autoDropAnalysis: parsed.data.auto_drop_analysis,
    });
    io.write(piecesToText(pieces));
    return 0;
  } catch (error) {
    io.error(`Cannot render: ${(error as Error).message}\n`);
    return 2;
  }
}

/** Parses completion text (special tokens as text) into messages printed as JSON. */
export function harmonyParseCommand(
  input: string,
  role: string | undefined,
  io: { write: (t: string) => void; error: (t: string) => void },
): number {
  if (role !== undefined && !["system", "developer", "user", "assistant", "tool"].includes(role)) {
    io.error(`Cannot parse: unknown role '${role}'\n`);
    return 2;
  }
  const parser = new HarmonyParser({ role: role ?? null });
  for (const piece of textToPieces(input)) parser.push(piece);
  parser.end();
  const messages = parser.messages.map((m) => ({
    role: m.role,
    name: m.name,
    channel: m.channel,
    recipient: m.recipient,
    content_type: m.content_type,
    content: m.content,
  }));
  io.write(JSON.stringify(messages, null, 2) + "\n");
  return 0;
}
