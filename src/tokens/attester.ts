/**
 * Attesters: how a client proves, at the issuance endpoint, which device it is (and so whose quota the
 * tokens draw on). Pluggable: a platform attester (App Attest, Play Integrity) implements the same
 * interface; two ship here.
 *
 * Device key (Ed25519), with a stateless server challenge:
 *   challenge = "pt1." expiry "." b64url(random(16)) "." b64url(HMAC-SHA-256(secret, body ‖ 0x00 ‖ network)[0..16])
 *   evidence  = {"kind": "device_key", "publicKey": b64url(32 B), "challenge", "signature": b64url(64 B)}
 *   signature = Ed25519(device_key, "privacy-gateway token issuance v1" ‖ 0x00 ‖ challenge)
 *   deviceId  = keyed hash of the public key (never stored or logged in clear)
 * The challenge is bound to the network and expires; it is spent once (seen-set), so a captured request
 * cannot be replayed to drain a device's quota.
 *
 * Proof of work (for apps without a device key): the limits' ProofOfWork challenges (src/limits), bound to
 * the network; each solved challenge is a fresh pseudo-device, so the cost of a batch is the work, and the
 * new-devices-per-network limit bounds how many a network gets.
 */
import { type KeyHasher, type LimitStore, ProofOfWork } from "../limits/mod.ts";
import { fromBase64Url, toBase64Url } from "./base64url.ts";

/** Context of one attestation: the (hashed) network and the time. */
export interface AttestationContext {
  network: string;
  nowMs: number;
}

/** An attester's verdict: the device, or a refusal with the challenge to answer. */
export type Attestation =
  | { deviceId: string }
  | {
    refusal: "attestation_required" | "attestation_invalid";
    challenge: { token: string; difficulty?: number };
  };

/** Proves a device at issuance. `evidence` is the client's untrusted JSON value. */
export interface Attester {
  verify(evidence: unknown, context: AttestationContext): Promise<Attestation>;
}

/** Domain separation label of issuance signatures. */
export const ISSUANCE_PROOF_LABEL = "privacy-gateway token issuance v1\0";

const _CHALLENGE_SECONDS = 120;

/** Ed25519 device keys answering a server challenge. */
export class DeviceKeyAttester implements Attester {
  #mac: CryptoKey;
  #hasher: KeyHasher;
  #spent: Pick<LimitStore, "addIfAbsent">;

  private constructor(mac: CryptoKey, hasher: KeyHasher, spent: Pick<LimitStore, "addIfAbsent">) {
    this.#mac = mac;
    this.#hasher = hasher;
    this.#spent = spent;
  }

  /** `secret` (32+ bytes) keys the challenges; `hasher` turns public keys into device ids. */
  static async create(
    secret: Uint8Array<ArrayBuffer>,
    hasher: KeyHasher,
    spent: Pick<LimitStore, "addIfAbsent">,
  ): Promise<DeviceKeyAttester> {
    if (secret.byteLength < 32) {
      throw new Error("Cannot create the device-key attester: the secret needs 32 bytes");
    }
    const mac = await crypto.subtle.importKey("raw", secret, { name: "HMAC", hash: "SHA-256" }, false, [
      "sign",
    ]);
    return new DeviceKeyAttester(mac, hasher, spent);
  }

  /** A fresh challenge for `network`. */
  async challenge(context: AttestationContext): Promise<string> {
    const expiry = Math.floor(context.nowMs / 1000) + _CHALLENGE_SECONDS;
    const body = `pt1.${expiry}.${toBase64Url(crypto.getRandomValues(new Uint8Array(16)))}`;
    return `${body}.${await this.#sign(body, context.network)}`;
  }

  async verify(evidence: unknown, context: AttestationContext): Promise<Attestation> {
    const required = async () => ({
      refusal: "attestation_required" as const,
      challenge: { token: await this.challenge(context) },
    });
    const e = evidence as Record<string, unknown> | null | undefined;
    if (!e || typeof e !== "object" || e.kind !== "device_key") return required();
    const { publicKey, challenge, signature } = e;
    if (typeof publicKey !== "string" || typeof challenge !== "string" || typeof signature !== "string") {
      return required();
    }
    const invalid = async () => ({
      refusal: "attestation_invalid" as const,
      challenge: { token: await this.challenge(context) },
    });
    const key = fromBase64Url(publicKey);
    const sig = fromBase64Url(signature);
    const parts = challenge.split(".");
    if (key?.byteLength !== 32 || sig?.byteLength !== 64 || parts.length !== 4 || parts[0] !== "pt1") {
      return invalid();
    }
    const expected = await this.#sign(parts.slice(0, 3).join("."), context.network);
    if (!_equalText(expected, parts[3]) || Number(parts[1]) < context.nowMs / 1000) return invalid();
    let valid = false;
    try {
      const verifier = await crypto.subtle.importKey("raw", key, "Ed25519", false, ["verify"]);
      valid = await crypto.subtle.verify(
        "Ed25519",
        verifier,
        sig,
        new TextEncoder().encode(ISSUANCE_PROOF_LABEL + challenge),
      );
    } catch {
      valid = false;
    }
    if (!valid) return invalid();
    if (!await this.#spent.addIfAbsent(`tch:${parts[2]}`, _CHALLENGE_SECONDS + 1)) return invalid();
    return { deviceId: this.#hasher.hash("token-device", publicKey) };
  }

  async #sign(body: string, network: string): Promise<string> {
    const mac = await crypto.subtle.sign("HMAC", this.#mac, new TextEncoder().encode(`${body}\0${network}`));
    return toBase64Url(new Uint8Array(mac).subarray(0, 16));
  }
}

/** Proof of work as the attestation: each solved challenge is one fresh pseudo-device. */
export class ProofOfWorkAttester implements Attester {
  #pow: ProofOfWork;
  #hasher: KeyHasher;
  #spent: Pick<LimitStore, "addIfAbsent">;
  #difficulty: number;

  /** `difficulty` in leading zero bits (20 ≈ a second on a phone); `pow` from the limits' secret. */
  constructor(
    pow: ProofOfWork,
    hasher: KeyHasher,
    spent: Pick<LimitStore, "addIfAbsent">,
    difficulty: number,
  ) {
    this.#pow = pow;
    this.#hasher = hasher;
    this.#spent = spent;
    this.#difficulty = difficulty;
  }

  async verify(evidence: unknown, context: AttestationContext): Promise<Attestation> {
    const e = evidence as Record<string, unknown> | null | undefined;
    const now = context.nowMs / 1000;
    if (
      e && typeof e === "object" && e.kind === "pow" && typeof e.challenge === "string" &&
      typeof e.solution === "string"
    ) {
      const verdict = await this.#pow.verify(
        e.challenge,
        e.solution,
        _POW_DEVICE,
        context.network,
        now,
        (token, ttl) => this.#spent.addIfAbsent(`tpow:${token}`, ttl),
      );
      if (verdict === "ok") return { deviceId: this.#hasher.hash("token-pow", e.challenge) };
    }
    const challenge = await this.#pow.issue(
      _POW_DEVICE,
      context.network,
      this.#difficulty,
      now,
      _CHALLENGE_SECONDS,
    );
    return { refusal: "attestation_required", challenge };
  }
}

/** The device name proof-of-work challenges are bound to here (the device is not known yet). */
const _POW_DEVICE = "token-issuance";

function _equalText(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}
