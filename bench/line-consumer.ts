import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';

/**
 * The stand-in consumer when target-jsonl is not installed: it parses every line as a target must
 * (JSON.parse) and counts the RECORD messages and the bytes read, printing both on stderr. Its stdout stays empty.
 * Reads stdin, or the file named by its argument (the consumer's own speed, with no producer running).
 */
const input = process.argv[2] ? createReadStream(process.argv[2]) : process.stdin;
let records = 0;
let bytes = 0;
for await (const line of createInterface({ input, crlfDelay: Infinity })) {
  bytes += Buffer.byteLength(line) + 1;
  if (line.length === 0) continue;
  if ((JSON.parse(line) as { type?: string }).type === 'RECORD') records++;
}
process.stderr.write(`line-consumer: ${records} records, ${bytes} bytes\n`);
