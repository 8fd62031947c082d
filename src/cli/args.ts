/** Minimal argument parsing for the CLI (node:util's parseArgs, so no dependency is needed). */
import { parseArgs } from "node:util";

/** Parsed command line: subcommand path and flags. */
export interface CommandLine {
  command:
    | "serve"
    | "node"
    | "chat"
    | "keys init"
    | "keys rotate"
    | "harmony render"
    | "harmony parse"
    | "check"
    | "help"
    | "version";
  flags: Record<string, string | boolean | undefined>;
  positionals: string[];
}

/** Splits argv into a subcommand and its options; throws a sentence-case Error on bad usage. */
export function parseCommandLine(argv: string[]): CommandLine {
  // A base64url fingerprint may begin with "-", which parseArgs would take for an option: `--pin -x…`
  // is read as `--pin=-x…` (about 1 start in 64 printed such a fingerprint).
  const args = argv.flatMap((arg, i) =>
    arg === "--pin" && argv[i + 1]?.startsWith("-")
      ? []
      : i > 0 && argv[i - 1] === "--pin" && arg.startsWith("-")
      ? [`--pin=${arg}`]
      : [arg]
  );
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: {
      url: { type: "string" },
      pin: { type: "string" },
      relay: { type: "string" },
      json: { type: "boolean" },
      out: { type: "string" },
      file: { type: "string" },
      interval: { type: "string" },
      force: { type: "boolean" },
      role: { type: "string" },
      "max-tokens": { type: "string" },
      help: { type: "boolean", short: "h" },
      version: { type: "boolean" },
    },
  });
  if (values.help) return { command: "help", flags: values, positionals };
  if (values.version) return { command: "version", flags: values, positionals };
  const [first, second, ...rest] = positionals;
  switch (first) {
    case undefined:
    case "serve":
      return { command: "serve", flags: values, positionals: positionals.slice(1) };
    case "node":
      return { command: "node", flags: values, positionals: positionals.slice(1) };
    case "chat":
      return { command: "chat", flags: values, positionals: positionals.slice(1) };
    case "check":
      return { command: "check", flags: values, positionals: positionals.slice(1) };
    case "keys":
      if (second === "init") return { command: "keys init", flags: values, positionals: rest };
      if (second === "rotate") return { command: "keys rotate", flags: values, positionals: rest };
      throw new Error("Use `keys init` or `keys rotate`");
    case "harmony":
      if (second === "render" || second === "parse") {
        return { command: `harmony ${second}`, flags: values, positionals: rest };
      }
      throw new Error("Use `harmony render` or `harmony parse`");
    case "help":
      return { command: "help", flags: values, positionals };
    default:
      throw new Error(`Unknown command '${first}': run with --help`);
  }
}

/** Usage text. */
export const USAGE = `privacy-gateway — end-to-end encrypted chat gateway for llama.cpp

Usage:
  privacy-gateway [serve]                 start the gateway (configured by PG_* variables)
  privacy-gateway node                    run as an inference node behind mTLS
  privacy-gateway check [--role gateway|node]
                                          validate the configuration, this build's grants, the files and
                                          the reachability of nodes, Redis and the OTLP collector; one
                                          line per problem, exit 1 when there is any
  privacy-gateway chat [--url URL] [--pin FINGERPRINT] [--relay URL] [--json] [--max-tokens N] [PROMPT]
                                          send an Oblivious HTTP chat request (through an OHTTP
                                          relay with --relay) and print the answer
  privacy-gateway keys init --out FILE [--force]
                                          create an identity key file (mode 0600), print its fingerprint
  privacy-gateway keys rotate --file FILE [--interval SECONDS]
                                          add the next HPKE key to a shared keys file (several instances)
  privacy-gateway harmony render          read JSON on stdin, print Harmony text
  privacy-gateway harmony parse [--role assistant]
                                          read Harmony completion text on stdin, print messages as JSON
`;
