/** Configuration: one strict schema over PG_* environment variables, loaded once by main.ts. */
export { configSchema, ENV_SCHEMA, type EnvConfig, isLoopbackHost, nodeConfigSchema } from "./schema.ts";
export { loadConfig, type LoadResult, parseEnvFile } from "./load.ts";
export {
  type HpkeKeysFile,
  loadHpkeKeysFile,
  loadIdentityFile,
  parseHpkeKeysFile,
  readSecretFile,
  rotateHpkeKeysFile,
} from "./secret_files.ts";
export { edgeLimitsFor, limitsFor } from "./limits.ts";
export { fileStamp } from "./file_stamp.ts";
export { semiSpaceMiB, v8Flags } from "./heap.ts";
export {
  type Grant,
  grantFlags,
  llamaGuard,
  missingGrants,
  type PermissionQuery,
  rebuildCommand,
  REDIS_CLIENT_ENV,
  requiredGrants,
  type Role,
  SETPRIV,
  usesLocalLlama,
} from "./grants.ts";
