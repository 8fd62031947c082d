/**
 * Stateless proof-of-work challenges. Under load, or for a device never seen before, the gateway answers
 * with a challenge instead of work; the SDK solves it and retries.
 *
 *   challenge = "pg1." expiry "." difficulty "." random(16, b64url) "." b64url(HMAC(secret, body ‖ device ‖ network))
 *   solution  = a decimal counter such that SHA-256(challenge ‖ "." ‖ counter) starts with `difficulty` zero bits
 *
 * The HMAC binds the challenge to one device and one network and to its expiry, so nothing is stored
 * when issuing; verifying costs one HMAC and one SHA-256. A solution is accepted once (the spent set).
 */
import { constantTimeEqual, fromBase64Url, toBase64Url, utf8 } from "../crypto/mod.ts";
import { leadingZeroBits, powDigest } from "../protocol/mod.ts";

/** A challenge as sent to the app. */
export interface Challenge {
  token: string;
  difficulty: number;
}

/** Issues and verifies challenges. */
export class ProofOfWork {
  #key: CryptoKey;

  private constructor(key: CryptoKey) {
    this.#key = key;
  }

  /** Builds from secret material (shared by gateways that share an identity). */
  static async fromSecret(secret: Uint8Array<ArrayBuffer>): Promise<ProofOfWork> {
    return new ProofOfWork(
      await crypto.subtle.importKey("raw", secret, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]),
    );
  }

  /** A challenge for `device` on `network`, valid for `ttlSeconds`. */
  async issue(
    device: string,
    network: string,
    difficulty: number,
    nowSeconds: number,
    ttlSeconds: number,
  ): Promise<Challenge> {
    const body = `pg1.${Math.floor(nowSeconds) + ttlSeconds}.${difficulty}.${
      toBase64Url(crypto.getRandomValues(new Uint8Array(16)))
    }`;
    return { token: `${body}.${await this.#mac(body, device, network)}`, difficulty };
  }

  /** Checks a solution; `spent` records it so it is accepted once. Returns why it failed, or "ok". */
  async verify(
    token: string,
    solution: string,
    device: string,
    network: string,
    nowSeconds: number,
    spent: (token: string, ttlSeconds: number) => Promise<boolean>,
  ): Promise<"ok" | "invalid" | "expired" | "insufficient" | "reused"> {
    const parts = token.split(".");
    if (parts.length !== 5 || parts[0] !== "pg1" || !/^\d{1,12}$/.test(solution)) return "invalid";
    const [, expiryText, difficultyText] = parts;
    const expiry = Number(expiryText);
    const difficulty = Number(difficultyText);
    if (!Number.isInteger(expiry) || !Number.isInteger(difficulty) || difficulty < 0 || difficulty > 32) {
      return "invalid";
    }
    const mac = fromBase64Url(parts[4]);
    const expected = fromBase64Url(await this.#mac(parts.slice(0, 4).join("."), device, network));
    if (!mac || !expected || !constantTimeEqual(mac, expected)) return "invalid";
    if (expiry < nowSeconds) return "expired";
    if (leadingZeroBits(await powDigest(`${token}.${solution}`)) < difficulty) return "insufficient";
    return (await spent(token, Math.max(1, expiry - Math.floor(nowSeconds) + 1))) ? "ok" : "reused";
  }

  async #mac(body: string, device: string, network: string): Promise<string> {
    const mac = await crypto.subtle.sign("HMAC", this.#key, utf8(`${body}\0${device}\0${network}`));
    return toBase64Url(new Uint8Array(mac).subarray(0, 16));
  }
}
