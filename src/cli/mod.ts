/** The command-line interface: argument parsing and subcommands, given the world by main.ts. */
export { type CliHost, dispatch, VERSION } from "./dispatch.ts";
export { type CommandLine, parseCommandLine, USAGE } from "./args.ts";
