import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { gunzipSync } from 'node:zlib';

/** A fresh directory for batch files and the batch_config that points the tap at it. */
export function batchRoot(
  compression: 'gzip' | 'none' = 'gzip',
  extra: Record<string, unknown> = {},
  format: 'jsonl' | 'parquet' = 'jsonl',
): { dir: string; batch_config: Record<string, unknown> } {
  const dir = mkdtempSync(join(tmpdir(), 'tap-batch-'));
  return { dir, batch_config: { encoding: { format, compression }, storage: { root: pathToFileURL(dir).href }, ...extra } };
}

/** The files the BATCH messages name, in order (each must exist). */
export function manifestFiles(messages: Record<string, any>[], stream?: string): string[] {
  return messages
    .filter((m) => m.type === 'BATCH' && (stream === undefined || m.stream === stream))
    .flatMap((m) => m.manifest.map((u: string) => fileURLToPath(u)));
}

/** The lines of a JSONL batch file, decompressed by the file's own magic (not by trusting its name). */
export function fileLines(path: string): string[] {
  let bytes = readFileSync(path);
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) bytes = gunzipSync(bytes);
  const text = bytes.toString('utf8');
  return text.length === 0 ? [] : text.replace(/\n$/, '').split('\n');
}

/** Every record line of every file the BATCH messages name. */
export function batchLines(messages: Record<string, any>[], stream?: string): string[] {
  return manifestFiles(messages, stream).flatMap(fileLines);
}

/** Files left in a batch directory: complete ones and `.part` leftovers. */
export function dirFiles(dir: string): { complete: string[]; partial: string[] } {
  const names = existsSync(dir) ? readdirSync(dir) : [];
  return {
    complete: names.filter((n) => !n.endsWith('.part')).map((n) => join(dir, n)),
    partial: names.filter((n) => n.endsWith('.part')).map((n) => join(dir, n)),
  };
}

/** The `record` object of a RECORD line, as the exact bytes the line holds (a regex, not the tap's own cutter). */
export function recordText(line: string): string {
  const m = /^\{"type":"RECORD","stream":"(?:[^"\\]|\\.)*","record":(\{.*\})(?:,"version":\d+)?,"time_extracted":"[^"]*"\}$/.exec(line);
  if (!m) throw new Error(`not a RECORD line: ${line.slice(0, 200)}`);
  return m[1]!;
}
