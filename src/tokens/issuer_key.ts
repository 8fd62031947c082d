/**
 * One issuer key of token type 0x0002: RSA-2048 (RFC 9578 §6: Nk = 256), e = 65537.
 *
 *   blind_sig     = RSASP1(sk, blinded_msg), checked by RSAVP1(pk, blind_sig) = blinded_msg   (RFC 9474 §4.3)
 *   authenticator verified as RSASSA-PSS-VERIFY(pk, token_input, SHA-384, MGF1-SHA-384, salt 48)  (RFC 9578 §6.4)
 *   token_key_id  = SHA-256(SPKI with the RSASSA-PSS OID)                                           (RFC 9578 §6.5)
 *
 * Why not the library's signer: `@cloudflare/blindrsa-ts` signs with sjcl big numbers and no CRT unless the
 * platform offers WebCrypto "RSA-RAW" (Cloudflare Workers only). Measured on this machine (Deno 2.9.6, one
 * core): 222 ms per blind signature there, 1.3 ms through node:crypto's raw RSA (RSA_NO_PADDING private
 * operation, CRT, native). The library still does everything else: wire formats, the client's blinding and
 * finalization, key encodings; RFC 9578's test vectors pin the result (tests/tokens_vectors_test.ts).
 *
 * The private key lives in a node:crypto KeyObject held in a private field; WebCrypto cannot hold it
 * non-extractable because it has no raw RSA operation. It leaves the object only through {@link toRecord},
 * for the secret file.
 */
import * as nodeCrypto from "node:crypto";
import { Buffer } from "node:buffer";
import { RsaBlinding } from "./rsa_blinding.ts";
import { NK, SALT_LENGTH, tokenKeyIdOf, toPssSpki } from "./wire.ts";

/** RFC 9578 §6: the modulus size of token type 0x0002. */
export const MODULUS_BITS = 2048;

/** What is persisted for one key (secret: pkcs8 holds the private key). Times are ms since the epoch. */
export interface IssuerKeyRecord {
  pkcs8: Uint8Array<ArrayBuffer>;
  notBefore: number;
  notAfter: number;
}

/** One issuer key pair with its validity. */
export class IssuerKey {
  /** SHA-256 of {@link pssSpki}. */
  readonly tokenKeyId: Uint8Array<ArrayBuffer>;
  /** The public key as RFC 9578 §6.5 encodes it (what clients blind against). */
  readonly pssSpki: Uint8Array<ArrayBuffer>;
  readonly notBefore: number;
  readonly notAfter: number;
  #private: nodeCrypto.KeyObject;
  #public: nodeCrypto.KeyObject;
  #modulus: Uint8Array;
  #blinding: RsaBlinding;

  private constructor(
    privateKey: nodeCrypto.KeyObject,
    pssSpki: Uint8Array<ArrayBuffer>,
    tokenKeyId: Uint8Array<ArrayBuffer>,
    notBefore: number,
    notAfter: number,
  ) {
    this.#private = privateKey;
    this.#public = nodeCrypto.createPublicKey(privateKey);
    this.pssSpki = pssSpki;
    this.tokenKeyId = tokenKeyId;
    this.notBefore = notBefore;
    this.notAfter = notAfter;
    const jwk = this.#public.export({ format: "jwk" });
    this.#modulus = new Uint8Array(Buffer.from(jwk.n!, "base64url"));
    this.#blinding = new RsaBlinding(this.#modulus, 65537n);
  }

  /** A fresh RSA-2048 key valid from `notBefore` to `notAfter` (ms). */
  static async generate(notBefore: number, notAfter: number): Promise<IssuerKey> {
    // Asynchronous: key generation takes 50–500 ms and runs off the event loop, so a rotation does not
    // stall the streams the gateway is serving.
    const { promise, resolve, reject } = Promise.withResolvers<nodeCrypto.KeyObject>();
    nodeCrypto.generateKeyPair(
      "rsa",
      { modulusLength: MODULUS_BITS, publicExponent: 65537 },
      (error, _publicKey, privateKey) => error ? reject(error) : resolve(privateKey),
    );
    return IssuerKey.#from(await promise, notBefore, notAfter);
  }

  /** Loads a key from its record; refuses anything but RSA-2048 with e = 65537. */
  static fromRecord(record: IssuerKeyRecord): Promise<IssuerKey> {
    const privateKey = nodeCrypto.createPrivateKey({
      key: Buffer.from(record.pkcs8),
      format: "der",
      type: "pkcs8",
    });
    return IssuerKey.#from(privateKey, record.notBefore, record.notAfter);
  }

  static async #from(
    privateKey: nodeCrypto.KeyObject,
    notBefore: number,
    notAfter: number,
  ): Promise<IssuerKey> {
    const details = privateKey.asymmetricKeyDetails;
    if (
      privateKey.asymmetricKeyType !== "rsa" || details?.modulusLength !== MODULUS_BITS ||
      details.publicExponent !== 65537n
    ) {
      throw new Error(
        `Cannot use the issuer key: token type 0x0002 needs RSA-${MODULUS_BITS} with e = 65537`,
      );
    }
    if (!(notAfter > notBefore)) {
      throw new Error("Cannot use the issuer key: notAfter must be after notBefore");
    }
    const spki = new Uint8Array(
      nodeCrypto.createPublicKey(privateKey).export({ type: "spki", format: "der" }),
    );
    const pssSpki = toPssSpki(spki);
    return new IssuerKey(privateKey, pssSpki, await tokenKeyIdOf(pssSpki), notBefore, notAfter);
  }

  /** RFC 9578 §6.1: the least significant byte of token_key_id. */
  get truncatedTokenKeyId(): number {
    return this.tokenKeyId[NID_LAST];
  }

  /** The secret record to persist (0600, like the identity key). */
  toRecord(): IssuerKeyRecord {
    const pkcs8 = new Uint8Array(this.#private.export({ type: "pkcs8", format: "der" }));
    return { pkcs8, notBefore: this.notBefore, notAfter: this.notAfter };
  }

  /**
   * RFC 9474 §4.3 BlindSign: RSASP1 of a blinded message (itself base-blinded, rsa_blinding.ts), then
   * RSAVP1 of the result must give the message back (guards against a faulty CRT signature leaking a
   * factor). Undefined for an out-of-range input.
   */
  blindSign(blindedMsg: Uint8Array): Uint8Array<ArrayBuffer> | undefined {
    if (blindedMsg.byteLength !== NK || !_lessThan(blindedMsg, this.#modulus)) return undefined;
    const raw = { padding: nodeCrypto.constants.RSA_NO_PADDING };
    const { blinded, unblind } = this.#blinding.blind(blindedMsg, NK);
    const signature = unblind(nodeCrypto.privateDecrypt({ key: this.#private, ...raw }, blinded));
    const check = nodeCrypto.publicEncrypt({ key: this.#public, ...raw }, signature);
    if (!Buffer.from(blindedMsg).equals(check)) {
      throw new Error("Cannot sign: RSAVP1 check of the blind signature failed");
    }
    const out = new Uint8Array(NK);
    out.set(signature, NK - signature.byteLength);
    return out;
  }

  /**
   * RSASSA-PSS-VERIFY of an authenticator over a token_input (RFC 9578 §6.4: SHA-384, MGF1-SHA-384, 48-byte
   * salt). Synchronous (node:crypto, ~130 µs): WebCrypto's verify is a hop to the runtime's thread pool,
   * which took milliseconds per request while llama-server kept both cores busy (docs/benchmarks.md).
   * RFC 8017 §8.1.2 / §5.2.2 RSAVP1 step 1: a signature representative not below the modulus is refused
   * (both WebCrypto and node:crypto reduce it instead, so s + n verified as s: a second authenticator for
   * one token; harmless for double spending, whose key is the nonce, but not RSASSA-PSS).
   */
  verify(tokenInput: Uint8Array, authenticator: Uint8Array): boolean {
    if (authenticator.byteLength !== NK || !_lessThan(authenticator, this.#modulus)) return false;
    return nodeCrypto.verify(
      "sha384",
      tokenInput,
      { key: this.#public, padding: nodeCrypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: SALT_LENGTH },
      authenticator,
    );
  }
}

const NID_LAST = 31;

/** Big-endian a < b for equal lengths (the modulus is exactly Nk bytes for RSA-2048). */
function _lessThan(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return a.byteLength < b.byteLength;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return a[i] < b[i];
  return false;
}
