/**
 * Loads configuration once: an optional env file, then the process environment (which wins), validated by
 * the schema. Only `PG_*` variables are read. Problems come back as one line each, naming the variable.
 */
import { configSchema, type EnvConfig, nodeConfigSchema } from "./schema.ts";

/** Result of loading: a config, or the list of problems to print. */
export type LoadResult = { ok: true; config: EnvConfig } | { ok: false; problems: string[] };

/**
 * Parses `KEY=VALUE` lines (blank lines and `#` comments ignored, optional surrounding quotes). Written
 * here because the format is tiny and a dotenv dependency would add variable expansion we do not want.
 */
export function parseEnvFile(text: string): { values: Record<string, string>; problems: string[] } {
  const values: Record<string, string> = {};
  const problems: string[] = [];
  for (const [index, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const match = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line);
    if (!match) {
      problems.push(`env file line ${index + 1}: expected KEY=VALUE`);
      continue;
    }
    values[match[1]] = match[2].replace(/^"(.*)"$/, "$1").replace(/^'(.*)'$/, "$1");
  }
  return { values, problems };
}

/**
 * Validates `PG_*` variables from `env` (and from the env file it names, read with `readFile`) for a role
 * (the gateway unless told otherwise; an inference node needs no identity key).
 */
export function loadConfig(
  env: Record<string, string>,
  readFile: (path: string) => string,
  role: "gateway" | "node" = "gateway",
): LoadResult {
  const pick = (source: Record<string, string>) =>
    Object.fromEntries(Object.entries(source).filter(([k]) => k.startsWith("PG_")));
  let merged = pick(env);
  const problems: string[] = [];
  if (merged.PG_ENV_FILE) {
    try {
      const parsed = parseEnvFile(readFile(merged.PG_ENV_FILE));
      problems.push(...parsed.problems);
      merged = { ...pick(parsed.values), ...merged };
    } catch (error) {
      problems.push(
        error instanceof Deno.errors.NotCapable
          ? `PG_ENV_FILE: this build may not read '${merged.PG_ENV_FILE}' (rebuild: scripts/compile.sh --env-file ${merged.PG_ENV_FILE})`
          : `PG_ENV_FILE: cannot read '${merged.PG_ENV_FILE}' (${(error as Error).name})`,
      );
    }
  }
  const result = (role === "node" ? nodeConfigSchema : configSchema).safeParse(merged);
  if (!result.success) {
    for (const issue of result.error.issues) {
      if (issue.code === "unrecognized_keys") {
        for (const key of issue.keys) problems.push(`${key}: unknown variable (check the spelling)`);
      } else {
        problems.push(`${issue.path.join(".") || "(config)"}: ${_expected(issue)}`);
      }
    }
  }
  if (problems.length > 0 || !result.success) return { ok: false, problems };
  return { ok: true, config: result.data };
}

function _expected(issue: { code: string; message: string; values?: unknown[] }): string {
  if (issue.code === "invalid_value" && issue.values) return `expected one of ${issue.values.join(", ")}`;
  if (issue.code === "invalid_type") return "expected a value";
  return issue.message;
}
