/**
 * Day-two gauges shared by both roles, named as the alert rules in deploy/ use them (issue 12):
 *
 *   pg_key_age_seconds                         age of the HPKE key clients are told to use now; a keys
 *                                              file whose rotation timer stopped makes it grow
 *   pg_certificate_expiry_seconds{certificate} seconds until a served or presented certificate expires
 *                                              (tls, mtls); negative once it has
 *   pg_supervisor_state{state}                 1 for the local llama-server's current state, 0 for the
 *                                              others (stopped, starting, ready, backoff, failed, stopping)
 */
import { X509Certificate } from "node:crypto";
import client from "prom-client";

/** The supervisor's states, in a fixed order (src/inference/supervisor.ts SupervisorState). */
export const SUPERVISOR_STATES = ["stopped", "starting", "ready", "backoff", "failed", "stopping"] as const;

/** Live values read at scrape time; an absent source leaves its gauge out. */
export interface OperatorSources {
  /** Age in seconds of the newest key whose validity has begun. */
  keyAgeSeconds?: () => number | undefined;
  /** Certificate files by label (`tls`, `mtls`). */
  certificates?: Record<string, string | undefined>;
  /** The local llama-server's state, when there is one. */
  supervisorState?: () => string | undefined;
  /** Restarts of the local llama-server since start (0 without one). */
  supervisorRestarts?: () => number;
}

/** Registers the gauges on `registry`. */
export function registerOperatorGauges(registry: client.Registry, sources: OperatorSources): void {
  const registers = [registry];
  if (sources.keyAgeSeconds) {
    const age = sources.keyAgeSeconds;
    new client.Gauge({
      name: "pg_key_age_seconds",
      help: "Age of the HPKE key in use now (the newest whose validity has begun)",
      registers,
      collect() {
        const value = age();
        if (value !== undefined) this.set(value);
      },
    });
  }
  const certificates = Object.entries(sources.certificates ?? {}).filter(
    (entry): entry is [string, string] => Boolean(entry[1]),
  );
  if (certificates.length > 0) {
    new client.Gauge({
      name: "pg_certificate_expiry_seconds",
      help: "Seconds until the certificate expires (negative when it has); re-read at every scrape",
      labelNames: ["certificate"],
      registers,
      async collect() {
        this.reset();
        for (const [label, path] of certificates) {
          const seconds = await certificateExpirySeconds(path, Date.now()).catch(() => undefined);
          // An unreadable file leaves the series absent, which `absent()` alert rules catch.
          if (seconds !== undefined) this.set({ certificate: label }, seconds);
        }
      },
    });
  }
  if (sources.supervisorRestarts) {
    const restarts = sources.supervisorRestarts;
    new client.Gauge({
      name: "privacy_gateway_supervisor_restarts",
      help: "Restarts of the local llama-server since start",
      registers,
      collect() {
        this.set(restarts());
      },
    });
  }
  if (sources.supervisorState) {
    const state = sources.supervisorState;
    new client.Gauge({
      name: "pg_supervisor_state",
      help: "Local llama-server supervisor: 1 for the current state, 0 for the others",
      labelNames: ["state"],
      registers,
      collect() {
        const current = state();
        if (current === undefined) return;
        for (const name of SUPERVISOR_STATES) this.set({ state: name }, name === current ? 1 : 0);
      },
    });
  }
}

/** Seconds from `nowMs` until the first certificate in the PEM file `path` expires. */
export async function certificateExpirySeconds(path: string, nowMs: number): Promise<number> {
  const certificate = new X509Certificate(await Deno.readTextFile(path));
  return Math.round((Date.parse(certificate.validTo) - nowMs) / 1000);
}

/** Age of the newest key whose validity has begun (undefined when none has). */
export function currentKeyAgeSeconds(
  keys: readonly { notBefore: number }[],
  nowSeconds: number,
): number | undefined {
  const started = keys.map((key) => key.notBefore).filter((notBefore) => notBefore <= nowSeconds);
  return started.length > 0 ? nowSeconds - Math.max(...started) : undefined;
}
