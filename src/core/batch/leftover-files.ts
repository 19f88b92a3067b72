import { readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../logger.js';
import type { BatchSettings } from './batch-settings.js';
import { abortLeftoverUploads, s3Client } from './s3-storage.js';

/** A stream's name as it appears in file names: names from the database can hold anything. */
export function fileStreamName(streamId: string): string {
  return streamId.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 100);
}

/** `<run>-<n>.<ext>.part` after `<prefix><stream>-`, as BatchFileSink and DurableFile name an unfinished file */
const RUN_PART = /^\d{8}T\d{9}Z-[0-9a-f]{8}-\d{6}\.[a-z.]+\.part$/;
/** any file of a run: in the local staging directory of an s3:// root, a file is gone once uploaded */
const RUN_FILE = /^\d{8}T\d{9}Z-[0-9a-f]{8}-\d{6}\.[a-z.]+$/;

/**
 * Removes the `.part` files that a killed run left under the root for these streams (files this tap
 * named, with this prefix, and nothing else in the directory); for an s3:// root, every file of theirs
 * left in the local staging directory (a file killed during its upload is complete there, not uploaded) and
 * the multipart uploads left open in the bucket. No BATCH message ever named them, and
 * the resumed run reads their rows again, so they only take space. Two runs writing the same stream
 * under the same root and prefix at once are not supported (their STATE would race as well): the second
 * would remove the first's unfinished file, and the first would then fail with exit 1 at its rename.
 */
export async function removeLeftovers(settings: BatchSettings, streamIds: readonly string[], log: Logger): Promise<void> {
  const stems = streamIds.map((id) => `${settings.prefix}${fileStreamName(id)}-`);
  const names = await readdir(settings.dir);
  const pattern = settings.s3 ? RUN_FILE : RUN_PART;
  const ours = names.filter((n) => stems.some((s) => n.startsWith(s) && pattern.test(n.slice(s.length))));
  for (const name of ours) await unlink(join(settings.dir, name)).catch(() => undefined);
  if (ours.length > 0) log.info(`removed ${ours.length} unfinished batch file(s) an earlier run left: ${ours.join(', ')}`);
  if (settings.s3) {
    const target = settings.s3;
    const uploads = await abortLeftoverUploads(await s3Client(target), target, stems, (rest) => RUN_FILE.test(rest)).catch((err: Error) => {
      log.warn(
        `s3://${target.bucket}/${target.keyPrefix}: cannot list the multipart uploads a killed run may have left open (${err.name}: ${err.message}); abort them with a lifecycle rule`,
      );
      return [];
    });
    if (uploads.length > 0) log.info(`aborted ${uploads.length} unfinished multipart upload(s) an earlier run left: ${uploads.join(', ')}`);
  }
}
