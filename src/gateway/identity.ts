/** The gateway's Ed25519 identity: from the configured key file, or an ephemeral one in development. */
import { type EnvConfig, loadIdentityFile } from "../config/mod.ts";
import { generateIdentity, type Identity } from "../crypto/mod.ts";
import type { Logger } from "../observability/mod.ts";

/** Loads the identity key file; only development without one gets a loudly announced ephemeral key. */
export async function loadGatewayIdentity(config: EnvConfig, logger: Logger): Promise<Identity> {
  if (config.PG_IDENTITY_KEY_FILE) return await loadIdentityFile(config.PG_IDENTITY_KEY_FILE);
  if (config.PG_PROFILE === "production" || !config.PG_INSECURE_DEV_IDENTITY) {
    throw new Error("Cannot start: set PG_IDENTITY_KEY_FILE (create one with `privacy-gateway keys init`)");
  }
  const { identity } = await generateIdentity();
  logger.log("warn", "gateway.dev_identity", {
    fingerprint: identity.fingerprint,
    reason: "DEVELOPMENT: ephemeral identity key, apps cannot pin it across restarts",
  });
  return identity;
}
