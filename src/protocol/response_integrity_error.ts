/** The response was tampered with, truncated or malformed; nothing from it should be trusted further. */
export class ResponseIntegrityError extends Error {
  constructor(readonly reason: "tampered" | "truncated" | "malformed") {
    super(`Response failed integrity check: ${reason}`);
    this.name = "ResponseIntegrityError";
  }
}
