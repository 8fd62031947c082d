/**
 * Change detection for files that are re-read while running (certificates, keys files): a stamp of each
 * file's modification time and size. Polling a stamp is simpler and more portable than file watches, and
 * renewals replace files at most a few times a day.
 */

/** A string that changes whenever any of `paths` is replaced or rewritten. */
export async function fileStamp(paths: readonly string[]): Promise<string> {
  const stats = await Promise.all(paths.map((path) => Deno.stat(path)));
  return stats.map((s) => `${s.mtime?.getTime()}:${s.size}`).join("|");
}
