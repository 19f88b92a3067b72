import { createReadStream } from 'node:fs';
import { unlink } from 'node:fs/promises';
import { basename } from 'node:path';
// types only: the AWS SDK loads when an s3:// root is configured, never in a run without one (it adds start-up time and memory)
import type { S3Client } from '@aws-sdk/client-s3';
import { ConfigurationError } from '../errors.js';
import type { BatchFile } from './durable-file.js';

/** Where `storage.root: s3://bucket/path` puts files, and how to reach it. */
export interface S3Target {
  readonly bucket: string;
  /** the root's path with a trailing slash ('' for the bucket's top), before `<prefix><file name>` */
  readonly keyPrefix: string;
  /** `storage.endpoint_url`: any S3-compatible server (MinIO, moto, R2…); AWS itself without it */
  readonly endpoint?: string;
  readonly region?: string;
  readonly accessKeyId?: string;
  readonly secretAccessKey?: string;
}

/**
 * One client for the run. Credentials from the config, else the SDK's usual chain (AWS_ACCESS_KEY_ID and
 * AWS_SECRET_ACCESS_KEY, a profile, a role). Path-style addressing with an endpoint, as most S3-compatible
 * servers want. Up to 5 attempts per request (the SDK's standard retry mode, with backoff): a part of a
 * multipart upload is retried alone.
 */
export async function s3Client(t: S3Target): Promise<S3Client> {
  // the SDK prints a 7-line warning on Node < 22 about its releases after January 2027; the lockfile pins
  // the tap's SDK version, and the tap's log lines are one line each
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const { S3Client } = await import('@aws-sdk/client-s3');
  return new S3Client({
    endpoint: t.endpoint,
    forcePathStyle: t.endpoint !== undefined,
    region: t.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1',
    credentials: t.accessKeyId && t.secretAccessKey ? { accessKeyId: t.accessKeyId, secretAccessKey: t.secretAccessKey } : undefined,
    maxAttempts: 5,
  });
}

/**
 * Before anything is read: the bucket exists and these credentials may write to it (HeadBucket, then a
 * probe object put and deleted under the root), so a typo or a refused key stops the tap with exit 2.
 */
export async function checkS3(client: S3Client, t: S3Target): Promise<void> {
  const where = `s3://${t.bucket}/${t.keyPrefix}`;
  const { DeleteObjectCommand, HeadBucketCommand, PutObjectCommand } = await import('@aws-sdk/client-s3');
  try {
    await client.send(new HeadBucketCommand({ Bucket: t.bucket }));
    const Key = `${t.keyPrefix}.tap-timescaledb-probe-${process.pid}`;
    await client.send(new PutObjectCommand({ Bucket: t.bucket, Key, Body: '' }));
    await client.send(new DeleteObjectCommand({ Bucket: t.bucket, Key }));
  } catch (err) {
    const e = err as Error & { $metadata?: { httpStatusCode?: number } };
    const status = e.$metadata?.httpStatusCode;
    const why =
      status === 404 || e.name === 'NoSuchBucket'
        ? `the bucket ${t.bucket} does not exist; create it or fix batch_config.storage.root`
        : status === 403 || status === 401
          ? 'the credentials were refused; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or storage.aws_access_key_id and storage.aws_secret_access_key) to a key that may write there'
          : `${e.name}: ${e.message}; check batch_config.storage.endpoint_url, the region and the credentials`;
    throw new ConfigurationError(`batch_config.storage.root ${where}: cannot write (${why})`);
  }
}

/**
 * A batch file staged on local disk (JSONL or Parquet, complete only after its own commit), then uploaded:
 * `commit` returns once the object is in place (lib-storage: a multipart upload in 8 MiB parts, 4 at a
 * time, for large files; its parts are aborted on failure), and only then does the BATCH name it.
 */
export class S3File implements BatchFile {
  readonly url: string;

  constructor(
    private readonly staged: BatchFile,
    private readonly client: Promise<S3Client>,
    private readonly target: S3Target,
  ) {
    this.url = `s3://${target.bucket}/${this.key}`;
  }

  get path(): string {
    return this.staged.path;
  }

  private get key(): string {
    return `${this.target.keyPrefix}${basename(this.staged.path)}`;
  }

  write(bytes: Buffer, copyText?: boolean): Promise<void> {
    return this.staged.write(bytes, copyText);
  }

  async commit(): Promise<void> {
    await this.staged.commit();
    try {
      const { Upload } = await import('@aws-sdk/lib-storage');
      const upload = new Upload({
        client: await this.client,
        params: { Bucket: this.target.bucket, Key: this.key, Body: createReadStream(this.staged.path) },
        partSize: 8 * 1024 * 1024,
        queueSize: 4,
        leavePartsOnError: false,
      });
      await upload.done();
    } finally {
      await unlink(this.staged.path).catch(() => undefined);
    }
  }

  discard(): Promise<void> {
    return this.staged.discard();
  }
}

/**
 * Aborts the multipart uploads a killed run left open for these file-name stems under the root (keys this
 * tap named: `isOurs` checks the rest of the key), whose parts an S3 bucket keeps, and bills, until
 * aborted. Best effort: credentials without s3:ListBucketMultipartUploads get a warning, not a stop.
 */
export async function abortLeftoverUploads(
  client: S3Client,
  t: S3Target,
  stems: readonly string[],
  isOurs: (rest: string) => boolean,
): Promise<string[]> {
  const { AbortMultipartUploadCommand, ListMultipartUploadsCommand } = await import('@aws-sdk/client-s3');
  const aborted: string[] = [];
  for (const stem of stems) {
    const Prefix = `${t.keyPrefix}${stem}`;
    let markers: { KeyMarker?: string; UploadIdMarker?: string } = {};
    for (;;) {
      const page = await client.send(new ListMultipartUploadsCommand({ Bucket: t.bucket, Prefix, ...markers }));
      for (const u of page.Uploads ?? []) {
        if (!u.Key || !u.UploadId || !isOurs(u.Key.slice(Prefix.length))) continue;
        await client.send(new AbortMultipartUploadCommand({ Bucket: t.bucket, Key: u.Key, UploadId: u.UploadId }));
        aborted.push(u.Key);
      }
      if (!page.IsTruncated) break;
      markers = { KeyMarker: page.NextKeyMarker, UploadIdMarker: page.NextUploadIdMarker };
    }
  }
  return aborted;
}
