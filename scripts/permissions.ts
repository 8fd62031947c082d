/**
 * The one place that turns a configuration into Deno permission flags, and the launch flags that go with
 * them (the young generation's cap, src/config/heap.ts). `deno task start`
 * (scripts/launch.ts), the tests (tests/helpers/gateway_process.ts) and `deno compile` (scripts/compile.sh,
 * which runs this file with `--env-file`) all take their flags from here, and the grants come from the
 * same validated configuration the program reads (src/config/grants.ts), which also checks them at
 * start-up. So the binary is built from the env file the service will use, not from the build machine's
 * environment (issue 12, finding 1), and a mismatch stops the program with exit 78 instead of a
 * `NotCapable` deep inside a request.
 *
 *   deno run --allow-read scripts/permissions.ts --role gateway|node --env-file FILE [--installed-as PATH]
 *
 * prints one flag per line; `--installed-as` is where the file will live on the server (the unit's
 * PG_ENV_FILE, default /etc/privacy-gateway/ROLE.env). Invalid configuration prints one line per problem
 * and exits 78; a configuration that would make the binary run anything but llama-server exits 78 too.
 */
import { parseArgs } from "node:util";
import {
  type EnvConfig,
  type Grant,
  grantFlags,
  loadConfig,
  requiredGrants,
  type Role,
  SETPRIV,
  v8Flags,
} from "../src/config/mod.ts";

/** What the flags are computed from: the role and its PG_* environment (which may name a PG_ENV_FILE). */
export interface PermissionScope {
  role: Role;
  env: Record<string, string | undefined>;
}

/** Flags every build and launch carries, besides the grants and the young-generation cap (config/heap.ts). */
const _BASE = [
  "--no-prompt",
  // Certificate renewal hands the port to a new listener with SO_REUSEPORT (src/http/listener.ts).
  "--unstable-net",
];

/** The scope of a role with the given PG_* settings (the same variables the gateway reads). */
export function scopeFromEnv(role: Role, env: Record<string, string | undefined>): PermissionScope {
  return { role, env };
}

/**
 * Deno flags for a scope. An invalid configuration gets only what it takes to read it and print its
 * problems (the program then exits 78), so launching never hides a configuration error behind a
 * permission error.
 */
export function permissionFlags(scope: PermissionScope): string[] {
  const env = Object.fromEntries(
    Object.entries(scope.env).filter((entry): entry is [string, string] => entry[1] !== undefined),
  );
  const loaded = loadConfig(env, (path) => Deno.readTextFileSync(path), scope.role);
  if (!loaded.ok) {
    return [..._BASE, ...(env.PG_ENV_FILE ? [`--allow-read=${env.PG_ENV_FILE}`] : []), "--allow-env=PG_*"];
  }
  return _launchFlags(loaded.config, scope.role, requiredGrants(loaded.config, scope.role));
}

/** What every valid configuration launches with: the base flags, the V8 flags, then the grants. */
function _launchFlags(config: EnvConfig, role: Role, grants: Grant[]): string[] {
  return [..._BASE, ...v8Flags(config, role), ...grantFlags(grants)];
}

/** The result of building grants from an env file: the flags, or the lines that explain the refusal. */
export type BuildResult = { ok: true; flags: string[] } | { ok: false; problems: string[] };

/**
 * Flags for a compiled binary whose service reads `envText` from `installedAs`. A production build runs
 * llama-server and nothing else (finding 11): a configuration that needs `setpriv` is refused.
 */
export function buildFlags(role: Role, envText: string, installedAs: string): BuildResult {
  const loaded = loadConfig({ PG_ENV_FILE: installedAs }, () => envText, role);
  if (!loaded.ok) return { ok: false, problems: loaded.problems };
  const grants = requiredGrants(loaded.config, role);
  if (grants.some((grant) => grant.kind === "run" && grant.value === SETPRIV)) {
    return {
      ok: false,
      problems: [
        "PG_LLAMA_GUARD: a compiled build runs llama-server and nothing else (setpriv can run any program); " +
        "set PG_LLAMA_GUARD=none: systemd's control group stops llama-server with the service",
      ],
    };
  }
  return { ok: true, flags: _launchFlags(loaded.config, role, grants) };
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      role: { type: "string", default: "gateway" },
      "env-file": { type: "string" },
      "installed-as": { type: "string" },
    },
  });
  const role = values.role;
  const envFile = values["env-file"];
  if ((role !== "gateway" && role !== "node") || !envFile) {
    console.error("Pass --role gateway|node and --env-file FILE (the env file the service will read)");
    Deno.exit(2);
  }
  let text: string;
  try {
    text = Deno.readTextFileSync(envFile);
  } catch (error) {
    console.error(`Cannot build grants: reading '${envFile}' failed (${(error as Error).name})`);
    Deno.exit(2);
  }
  const result = buildFlags(role, text, values["installed-as"] ?? `/etc/privacy-gateway/${role}.env`);
  if (!result.ok) {
    console.error(
      `Cannot build grants from '${envFile}':\n${result.problems.map((p) => `  ${p}`).join("\n")}`,
    );
    Deno.exit(78);
  }
  console.log(result.flags.join("\n"));
}
