/**
 * Owns one local llama-server process. An explicit state machine that alone changes its state; callers
 * state intent (`start`, `ensureReady`, `stop`) instead of checking state and acting on it.
 *
 *   stopped → starting → ready ⇄ (liveness failure / exit) → backoff → starting …
 *                              ↘ failed (too many failures in a row: not ready, retries at the cap)
 *   any → stopping → stopped
 *
 * llama-server never outlives the gateway: with `pdeathsigWrapper` (PG_LLAMA_GUARD=setpriv, the development
 * default) it runs under `setpriv --pdeathsig KILL` (the kernel kills it if the gateway dies, even by
 * SIGKILL); in production the unit's control group stops it (KillMode=mixed: the gateway drains, then stops
 * it itself). Its socket lives in a private 0700 runtime directory; a stale socket is removed before start.
 */
import type { Logger } from "../observability/mod.ts";
import { LIFECYCLE_LINES, llamaServerArgs, type LlamaServerOptions } from "./llama_args.ts";
import { LlamaClient } from "./llama_client.ts";

/** Supervisor states. */
export type SupervisorState = "stopped" | "starting" | "ready" | "backoff" | "failed" | "stopping";

/** Timing policy; every value says why it is what it is. */
export interface SupervisorTiming {
  /** A 20B model loads in tens of seconds from page cache; 120B can take minutes. */
  startupTimeoutMs: number;
  /** Probe often enough to notice a hang within seconds, rarely enough to cost nothing. */
  livenessIntervalMs: number;
  /** Idle, /health answers in microseconds; under full load it can take seconds. */
  livenessTimeoutMs: number;
  /** Consecutive failed probes before the process is declared hung and killed. */
  livenessFailures: number;
  /** First restart delay; doubled per consecutive failure up to the cap, with ±50 % jitter. */
  backoffBaseMs: number;
  backoffCapMs: number;
  /** Consecutive failures after which the supervisor reports `failed` instead of flapping. */
  maxConsecutiveFailures: number;
  /** Grace between SIGTERM and SIGKILL when stopping. */
  killTimeoutMs: number;
}

/** Defaults for a real model. */
export const DEFAULT_TIMING: SupervisorTiming = {
  startupTimeoutMs: 300_000,
  livenessIntervalMs: 5_000,
  // Under full CPU load (every core busy with generation) /health was measured to take over a second;
  // a hang is declared only after ~15 s without an answer, never because the server is merely busy.
  livenessTimeoutMs: 5_000,
  livenessFailures: 3,
  backoffBaseMs: 500,
  backoffCapMs: 30_000,
  maxConsecutiveFailures: 5,
  killTimeoutMs: 5_000,
};

/** Supervises llama-server. */
export class Supervisor {
  #options: LlamaServerOptions & { pdeathsigWrapper?: string };
  #timing: SupervisorTiming;
  #logger: Logger;
  #state: SupervisorState = "stopped";
  #child?: Deno.ChildProcess;
  #failures = 0;
  #restarts = 0;
  #timer?: ReturnType<typeof setTimeout>;
  #waiters = new Set<() => void>();
  #generation = 0;
  readonly client: LlamaClient;

  constructor(
    options: LlamaServerOptions & { pdeathsigWrapper?: string },
    timing: SupervisorTiming,
    logger: Logger,
  ) {
    this.#options = options;
    this.#timing = timing;
    this.#logger = logger;
    this.client = LlamaClient.forSocket("local", options.socketPath);
  }

  /** Current state (for /ready and metrics). */
  get state(): SupervisorState {
    return this.#state;
  }

  /** Restarts so far (metrics). */
  get restarts(): number {
    return this.#restarts;
  }

  /** PID of the running llama-server, if any (tests). */
  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** Starts supervising in the background and returns at once; `ensureReady()` waits for the result. */
  start(): void {
    if (this.#state !== "stopped") return;
    this.#launch();
  }

  /** Resolves when ready; rejects when `signal` aborts or the supervisor is failed or stopping. */
  async ensureReady(signal: AbortSignal): Promise<void> {
    while (this.#state !== "ready") {
      if (this.#state === "failed" || this.#state === "stopping" || this.#state === "stopped") {
        throw new Error(`llama-server is ${this.#state}`);
      }
      signal.throwIfAborted();
      await new Promise<void>((resolve) => {
        const done = () => {
          this.#waiters.delete(done);
          signal.removeEventListener("abort", done);
          resolve();
        };
        this.#waiters.add(done);
        signal.addEventListener("abort", done, { once: true });
      });
    }
  }

  /** Stops llama-server: SIGTERM, then SIGKILL after the grace period. Idempotent. */
  async stop(): Promise<void> {
    if (this.#state === "stopped") return;
    this.#set("stopping");
    clearTimeout(this.#timer);
    await this.#terminate();
    await _removeStaleSocket(this.#options.socketPath);
    this.#set("stopped");
    this.client.close();
    this.#logger.log("info", "supervisor.stopped", { backend: "local" });
  }

  #set(state: SupervisorState): void {
    this.#state = state;
    for (const wake of [...this.#waiters]) wake();
  }

  async #launch(): Promise<void> {
    const generation = ++this.#generation;
    this.#set("starting");
    await _removeStaleSocket(this.#options.socketPath);
    // stop() may have run during the await (review item 10): spawning now would leave a child that
    // nothing stops while the state says stopped.
    if (generation !== this.#generation) return;
    const args = llamaServerArgs(this.#options);
    const [program, argv] = this.#options.pdeathsigWrapper
      ? [this.#options.pdeathsigWrapper, ["--pdeathsig", "KILL", "--", this.#options.binary, ...args]]
      : [this.#options.binary, args];
    let child: Deno.ChildProcess;
    try {
      child = new Deno.Command(program, {
        args: argv,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
        // Nothing of the gateway's environment is passed on. (llama-server finds its shared libraries
        // through RUNPATH=$ORIGIN, set by scripts/build-llama-server.sh; Deno refuses LD_* variables
        // under a scoped --allow-run, rightly.)
        clearEnv: true,
        env: {},
      }).spawn();
    } catch {
      this.#logger.log("error", "supervisor.exited", { backend: "local", reason: "spawn_failed" });
      this.#scheduleRestart(generation);
      return;
    }
    this.#child = child;
    this.#logger.log("info", "supervisor.starting", {
      backend: "local",
      pid: child.pid,
      attempt: this.#failures + 1,
    });
    _drain(child.stdout, this.#logger);
    _drain(child.stderr, this.#logger);
    child.status.then((status) => this.#onExit(generation, status.code));
    const deadline = Date.now() + this.#timing.startupTimeoutMs;
    while (generation === this.#generation && this.#state === "starting") {
      if (await this.client.health(this.#timing.livenessTimeoutMs)) {
        if (generation !== this.#generation || this.#state !== "starting") return;
        this.#failures = 0;
        this.#set("ready");
        this.#logger.log("info", "supervisor.ready", { backend: "local", pid: child.pid });
        this.#probe(generation, 0);
        return;
      }
      if (Date.now() > deadline) {
        this.#logger.log("error", "supervisor.unhealthy", { backend: "local", reason: "startup_timeout" });
        child.kill("SIGKILL");
        return;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  #probe(generation: number, misses: number): void {
    this.#timer = setTimeout(async () => {
      if (generation !== this.#generation || this.#state !== "ready") return;
      const ok = await this.client.health(this.#timing.livenessTimeoutMs);
      if (generation !== this.#generation || this.#state !== "ready") return;
      if (ok) return this.#probe(generation, 0);
      if (misses + 1 >= this.#timing.livenessFailures) {
        this.#logger.log("warn", "supervisor.unhealthy", { backend: "local", reason: "liveness_failed" });
        // A hung process (e.g. SIGSTOP) is killed; the exit handler schedules the restart.
        this.#child?.kill("SIGKILL");
        return;
      }
      this.#probe(generation, misses + 1);
    }, this.#timing.livenessIntervalMs);
  }

  #onExit(generation: number, code: number): void {
    if (generation !== this.#generation) return;
    this.#child = undefined;
    clearTimeout(this.#timer);
    if (this.#state === "stopping" || this.#state === "stopped") return;
    this.#logger.log("warn", "supervisor.exited", { backend: "local", exit_code: code });
    this.#scheduleRestart(generation);
  }

  #scheduleRestart(generation: number): void {
    this.#failures++;
    const exp = Math.min(this.#timing.backoffCapMs, this.#timing.backoffBaseMs * 2 ** (this.#failures - 1));
    const delay = Math.round(exp * (0.5 + Math.random()));
    const failed = this.#failures >= this.#timing.maxConsecutiveFailures;
    this.#set(failed ? "failed" : "backoff");
    this.#logger.log(
      failed ? "error" : "warn",
      failed ? "supervisor.gave_up" : "supervisor.restart_scheduled",
      {
        backend: "local",
        attempt: this.#failures,
        delay_ms: delay,
      },
    );
    this.#timer = setTimeout(() => {
      if (generation !== this.#generation || (this.#state !== "backoff" && this.#state !== "failed")) return;
      this.#restarts++;
      this.#launch();
    }, delay);
  }

  async #terminate(): Promise<void> {
    const child = this.#child;
    this.#generation++;
    if (!child) return;
    try {
      child.kill("SIGTERM");
    } catch { /* already gone */ }
    const killed = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch { /* already gone */ }
    }, this.#timing.killTimeoutMs);
    await child.status;
    clearTimeout(killed);
    this.#child = undefined;
  }
}

/** Reads a child's output to keep its pipe from filling; logs only recognised lifecycle reasons. */
async function _drain(stream: ReadableStream<Uint8Array>, logger: Logger): Promise<void> {
  try {
    for await (const text of stream.pipeThrough(new TextDecoderStream())) {
      for (const [pattern, reason] of LIFECYCLE_LINES) {
        if (pattern.test(text)) logger.log("warn", "supervisor.unhealthy", { backend: "local", reason });
      }
    }
  } catch { /* the child went away */ }
}

/** Removes a leftover socket file, and only a socket: never a regular file someone placed there. */
async function _removeStaleSocket(path: string): Promise<void> {
  try {
    const info = await Deno.lstat(path);
    if (info.isSocket) await Deno.remove(path);
  } catch { /* absent */ }
}

/**
 * Creates (or checks) the private runtime directory: owned by us, mode 0700. An existing directory with
 * wider permissions or another owner is refused rather than fixed, since someone else may be watching it.
 */
export async function preparePrivateDir(path: string): Promise<void> {
  try {
    await Deno.mkdir(path, { recursive: true, mode: 0o700 });
  } catch (error) {
    if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
  }
  const info = await Deno.lstat(path);
  if (!info.isDirectory) throw new Error(`Cannot use runtime directory '${path}': it is not a directory`);
  if (info.uid !== null && Deno.uid() !== null && info.uid !== Deno.uid()) {
    throw new Error(`Cannot use runtime directory '${path}': it belongs to another user`);
  }
  if (info.mode !== null && (info.mode & 0o077) !== 0) {
    throw new Error(`Cannot use runtime directory '${path}': it is accessible by others (chmod 700)`);
  }
}
