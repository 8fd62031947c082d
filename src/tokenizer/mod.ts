/** In-process tokenization: gpt-oss's o200k_harmony, and the start-up check against the served model. */
export {
  loadO200kHarmony,
  type LocalTokenizer,
  O200K_BASE_SIZE,
  O200K_HARMONY_SIZE,
  o200kHarmonySpecials,
} from "./o200k_harmony.ts";
export { checkAgainstServer, PROBE_TEXTS, type TokenizerCheck } from "./verify.ts";
