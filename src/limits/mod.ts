/** Abuse limits. */
export { ConcurrencyLimit } from "./concurrency.ts";
