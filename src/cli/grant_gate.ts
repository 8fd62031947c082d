/**
 * The start-up grant check (issue 12, finding 1): before anything is opened, the program compares what
 * its configuration needs with what Deno grants it, and refuses to start on any gap, naming every missing
 * grant and the command that rebuilds a binary that fits. Without it a misfit binary starts, answers
 * /ready, and fails the first request that touches an ungranted file or host with `NotCapable`.
 */
import {
  type EnvConfig,
  missingGrants,
  type PermissionQuery,
  rebuildCommand,
  requiredGrants,
  type Role,
} from "../config/mod.ts";

/** Deno's own answer, synchronously (querySync never prompts). */
export const denoPermissionQuery: PermissionQuery = (descriptor) =>
  Deno.permissions.querySync(descriptor).state;

/** The refusal text, or undefined when every grant is present. */
export function grantRefusal(config: EnvConfig, role: Role, query: PermissionQuery): string | undefined {
  const missing = missingGrants(requiredGrants(config, role), query);
  if (missing.length === 0) return undefined;
  return `Cannot start: this build's permissions do not fit its configuration; missing grants:\n` +
    missing.map((line) => `  ${line}\n`).join("") +
    `Rebuild the binary from the env file it runs with: ${rebuildCommand(config, role)}\n`;
}
