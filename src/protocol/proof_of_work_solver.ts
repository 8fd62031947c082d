/**
 * The app's side of the proof-of-work challenge (limits/proof_of_work.ts issues and verifies): find a
 * decimal counter such that SHA-256(token ‖ "." ‖ counter) starts with `difficulty` zero bits.
 */
import { utf8 } from "../crypto/bytes.ts";

/** Solves a challenge (the SDK's side): tries counters until the hash has enough leading zero bits. */
export async function solveChallenge(
  challenge: { token: string; difficulty: number },
  signal?: AbortSignal,
  sha256: (data: Uint8Array<ArrayBuffer>) => Promise<Uint8Array> = _webSha256,
): Promise<string> {
  for (let counter = 0;; counter++) {
    if (counter % 1024 === 0) signal?.throwIfAborted();
    if (leadingZeroBits(await sha256(utf8(`${challenge.token}.${counter}`))) >= challenge.difficulty) {
      return String(counter);
    }
  }
}

/** Number of leading zero bits of a hash. */
export function leadingZeroBits(bytes: Uint8Array): number {
  let bits = 0;
  for (const byte of bytes) {
    if (byte === 0) {
      bits += 8;
      continue;
    }
    return bits + Math.clz32(byte) - 24;
  }
  return bits;
}

/** SHA-256 of the text (the work function). */
export function powDigest(text: string): Promise<Uint8Array> {
  return _webSha256(utf8(text));
}

/** SHA-256 on WebCrypto (the SDK passes its injectable one instead). */
async function _webSha256(data: Uint8Array<ArrayBuffer>): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", data));
}
