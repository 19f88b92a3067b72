import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { ConfigurationError, FatalSyncError, TapError } from '../errors.js';
import type { RecordBatch, RowForm } from '../postgres/record-encoder.js';
import type { StreamPlan } from '../readers/stream-plan.js';
import type { MessageWriter } from '../singer/message-writer.js';
import { releaseBatchBuffer } from '../singer/output-buffers.js';
import type { BatchSettings } from './batch-settings.js';
import { DurableFile, type BatchFile } from './durable-file.js';
import { fileStreamName } from './leftover-files.js';
import { RecordLineCutter } from './record-lines.js';
import type { RecordSink, StreamOutput } from './record-sink.js';
import { parquetColumns } from './parquet-columns.js';
import { ParquetFile } from './parquet-file.js';
import { ParquetThread } from './parquet-thread.js';
import { GzipThread } from './gzip-thread.js';
import { s3Client, S3File } from './s3-storage.js';
import type { Logger } from '../logger.js';

/**
 * Starts the thread the files of `settings` are encoded on (Parquet, or JSONL's gzip), so that it boots
 * (40-90 ms) while the tap connects and plans its streams: the first file no longer waits for it.
 */
export function startBatchThread(settings: BatchSettings): void {
  if (settings.format === 'parquet') ParquetThread.get();
  else if (settings.compression === 'gzip') GzipThread.get();
}

/**
 * Rows into JSONL files (singer-sdk's BATCH encoding: one raw record per line, gzip or not) or Parquet
 * files made from those same records, one BATCH message per completed file. A file closes when the sync asks for STATE: at every chunk's end and
 * every `batch_size` rows, so per-chunk resume holds and each STATE follows the BATCH of its rows.
 */
export class BatchFileSink implements RecordSink {
  /** one run's files never collide with another's, nor with a resumed run's */
  private readonly runId = newRunId();
  private seq = 0;

  constructor(
    private readonly writer: MessageWriter,
    private readonly settings: BatchSettings,
    private readonly log?: Logger,
  ) {
    const s3 = settings.s3;
    if (s3) {
      const client = s3Client(s3);
      this.stage = (file) => new S3File(file, client, s3);
    }
  }

  /** for an s3:// root: the upload of each file staged on local disk */
  private readonly stage: (file: BatchFile) => BatchFile = (file) => file;

  forStream(plan: StreamPlan): StreamOutput {
    let open: (path: string) => Promise<BatchFile>;
    // what a file is given of a batch's RECORD lines: a JSONL file the records cut out of them, the Parquet
    // encoder the lines as they are
    let take: (lines: Buffer) => Buffer;
    if (this.settings.format === 'parquet') {
      const columns = parquetColumns(plan.columns);
      if (columns.asText.length > 0)
        this.log?.info(
          `${plan.tapStreamId}: ${columns.asText.join(', ')} written to Parquet as exact decimal text (numeric without a precision of at most 38 digits has no Parquet DECIMAL type)`,
        );
      open = (path) => ParquetFile.create(path, this.settings.compression, columns, plan.stream, this.settings.fileMode);
      take = (lines) => lines;
    } else {
      open = (path) => DurableFile.create(path, this.settings.compression === 'gzip', this.settings.fileMode);
      const cutter = new RecordLineCutter(plan.stream);
      take = (lines) => cutter.cut(lines);
    }
    return new BatchFileOutput(plan, this.writer, this.settings, take, async () => this.stage(await open(this.nextPath(plan.tapStreamId))));
  }

  private nextPath(streamId: string): string {
    return join(this.settings.dir, batchFileName(this.settings, streamId, this.runId, ++this.seq));
  }
}

/** A file's name, `<prefix><stream>-<run>-<n>.<ext>` (leftover-files.ts reads it back); `.part` until complete. */
function batchFileName(settings: BatchSettings, streamId: string, runId: string, seq: number): string {
  const ext = settings.format === 'parquet' ? 'parquet' : settings.compression === 'gzip' ? 'jsonl.gz' : 'jsonl';
  return `${settings.prefix}${fileStreamName(streamId)}-${runId}-${String(seq).padStart(6, '0')}.${ext}`;
}

/** A run's id in its file names: its start time and 8 random hex digits (leftover-files.ts reads it back). */
function newRunId(): string {
  return `${new Date().toISOString().replace(/[-:.]/g, '')}-${randomBytes(4).toString('hex')}`;
}

/** the longest file name that ext4, XFS, Btrfs, tmpfs and APFS take, in bytes */
const NAME_MAX = 255;

/**
 * Refuses (exit 2, before any message) a batch_config.storage.prefix that makes a stream's file names longer
 * than file systems take: its first file failed to open after the stream's SCHEMA (ENAMETOOLONG, exit 1).
 */
export function checkBatchFileNames(settings: BatchSettings, streamIds: readonly string[]): void {
  const runId = newRunId();
  for (const id of streamIds) {
    const bytes = Buffer.byteLength(`${batchFileName(settings, id, runId, 1)}.part`);
    if (bytes > NAME_MAX)
      throw new ConfigurationError(
        `batch_config.storage.prefix makes the file names of stream ${id} ${bytes} bytes long, over the ${NAME_MAX} bytes file systems take: shorten the prefix by at least ${bytes - NAME_MAX} bytes`,
      );
  }
}

class BatchFileOutput implements StreamOutput {
  private file: BatchFile | undefined;
  private pending: Promise<void> = Promise.resolve();

  constructor(
    private readonly plan: StreamPlan,
    private readonly writer: MessageWriter,
    private readonly settings: BatchSettings,
    /** what the file is given of a batch's RECORD lines: the batch's buffer is reused once the file's write returns */
    private readonly take: (lines: Buffer) => Buffer,
    private readonly openFile: () => Promise<BatchFile>,
  ) {}

  get rowsPerState(): number {
    return this.settings.batchSize;
  }

  /** a Parquet file reads its values from COPY text, a JSONL file takes records, as well as RECORD lines */
  get takes(): RowForm {
    return this.settings.format === 'parquet' ? 'copy-text' : 'records';
  }

  async write(batch: RecordBatch): Promise<void> {
    if (batch.rows === 0) return;
    const records = batch.form ? batch.bytes : this.take(batch.bytes);
    this.file ??= await this.openFile();
    try {
      await this.file.write(records, batch.form === 'copy-text');
      // the encoder's buffer is free again once the file took its records
      releaseBatchBuffer(batch.bytes);
    } catch (err) {
      // a disk, zlib or Parquet value error: abandon() drops the file, and its rows are read again from the last STATE
      if (err instanceof TapError) throw err;
      throw new FatalSyncError(`cannot write the batch file ${this.file.path}: ${(err as Error).message}`, { cause: err });
    }
  }

  /**
   * Closes the file in hand and commits it in the background (fsync and rename; Parquet encoding; upload)
   * while the read goes on into the next file; then its BATCH, then the STATE given. One file commits at a
   * time, so at most two are staged, and BATCH and STATE keep their order.
   */
  async checkpoint(then: () => Promise<void>): Promise<void> {
    await this.pending;
    const file = this.file;
    this.file = undefined;
    this.pending = (file ? this.commit(file) : Promise.resolve()).then(then);
    // awaited by the next checkpoint or settle(); until then a failure must not count as unhandled
    this.pending.catch(() => undefined);
  }

  settle(): Promise<void> {
    return this.pending;
  }

  private async commit(file: BatchFile): Promise<void> {
    try {
      await file.commit();
    } catch (err) {
      await file.discard();
      throw new FatalSyncError(`cannot complete the batch file ${file.path}: ${(err as Error).message}`, { cause: err });
    }
    await this.writer.write({
      type: 'BATCH',
      stream: this.plan.stream,
      encoding: { format: this.settings.format, compression: this.settings.compression },
      manifest: [file.url],
    });
  }

  async abandon(): Promise<void> {
    // a file already committing is complete: its BATCH and STATE are still written
    await this.pending.catch(() => undefined);
    const file = this.file;
    this.file = undefined;
    await file?.discard();
  }
}
