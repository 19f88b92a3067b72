import type { RecordBatch, RowForm } from '../postgres/record-encoder.js';
import type { StreamPlan } from '../readers/stream-plan.js';
import type { MessageWriter } from '../singer/message-writer.js';

/**
 * Where one stream's rows go: RECORD lines on stdout, or files announced by BATCH messages. SCHEMA,
 * STATE and BATCH messages always go through the one writer; every STATE goes through `checkpoint`,
 * so no STATE covers a row that is not yet where the target will find it.
 */
export interface StreamOutput {
  /**
   * The plan the records are described with, when it differs from the plan read (a record transform drops or
   * retypes properties): the SCHEMA is built from it (schemaMessage), before the first record.
   */
  readonly described?: StreamPlan;
  /** STATE follows at most this many rows (a BATCH file's size) */
  readonly rowsPerState: number;
  /**
   * The form `write` also takes the stream's rows in (RecordBatch.form): a Parquet file reads its values from
   * COPY text, with no JSON written and parsed again in between; a JSONL file takes the records alone.
   */
  readonly takes?: RowForm;
  /**
   * Takes the batch's rows. A BATCH file may take its buffer too (a batch buffer of output-buffers.ts moves to
   * the Parquet or gzip thread): `batch.bytes` may be empty once this resolves.
   */
  write(batch: RecordBatch): Promise<void>;
  /**
   * Makes every row written so far durable, tells the target where it is, then calls `then` (which writes
   * the STATE covering those rows). An output may do that in the background (a Parquet file encoding, an
   * upload) while the next rows are written, one checkpoint at a time: a failed one throws from the next
   * call or from `settle`.
   */
  checkpoint(then: () => Promise<void>): Promise<void>;
  /** waits for a checkpoint running in the background */
  settle(): Promise<void>;
  /** after a failure that is not followed by STATE: drops what is not durable */
  abandon(): Promise<void>;
}

export interface RecordSink {
  forStream(plan: StreamPlan): StreamOutput;
}

/** RECORD lines on stdout, as the encoders wrote them. */
export class StdoutRecordSink implements RecordSink {
  constructor(
    private readonly writer: MessageWriter,
    private readonly stateEveryNRows: number,
  ) {}

  forStream(): StreamOutput {
    const writer = this.writer;
    return {
      rowsPerState: this.stateEveryNRows,
      write: (batch) => writer.writeBytes(batch.bytes),
      checkpoint: (then) => then(),
      settle: async () => undefined,
      abandon: async () => undefined,
    };
  }
}
