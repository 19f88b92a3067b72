import type pg from 'pg';
import { FatalSyncError } from '../../core/errors.js';
import type { Slice } from './partition-slices.js';
import { compressedRelations } from './timescale-catalog.js';

/**
 * A session that cannot decompress reads a compressed chunk as if it held only the rows inserted since
 * its compression: no error, rows missing. That is the Apache-only build before TimescaleDB 2.26.4, and a
 * session in which TimescaleDB's library is not loaded (a restarted embedded engine plans chunks as
 * plain inheritance children). The license setting cannot be trusted to tell: in the second case it does
 * not exist at all. So the query of the slice's range is asked for its plan, which must scan the
 * compressed relation of every compressed chunk in the slice; when it does not, the sync stops before
 * reading.
 */
export async function checkDecompression(
  client: pg.ClientBase,
  slice: Slice,
  rangeSelect: string,
  license: string | null,
  inSnapshot = false,
): Promise<void> {
  if (!slice.compressed) return;
  const compressed = await compressedRelations(client, slice.chunks);
  if (compressed.size === 0) return; // decompressed since it was listed: nothing compressed to miss
  const { rows } = await client.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${rangeSelect}`);
  const plan = rows.map((r) => r['QUERY PLAN']).join('\n');
  const missed = [...compressed].filter(([, relation]) => !plan.includes(relation)).map(([chunk]) => chunk);
  if (missed.length === 0) return;
  // (an 'apache' license never gets here: the plugin's checkSlice stops at its compressed slices first)
  if (inSnapshot && license !== null) {
    // consistent_snapshot: the snapshot (and the catalog rows read in it) still hold the chunk compressed,
    // but TimescaleDB plans by its catalog as it is now, where the chunk was decompressed after the
    // snapshot was taken: the read would see neither the compressed rows nor the moved ones
    throw new FatalSyncError(
      `chunk ${missed.join(', ')} was decompressed during this sync, after its consistent snapshot was taken: TimescaleDB plans the chunk as it is now, ` +
        'the snapshot still holds its rows compressed, and reading it would miss them, so the sync stops here with STATE for every chunk read so far. ' +
        'Nothing is lost: run the tap again with that STATE (the next run takes a new snapshot and reads this chunk), ' +
        'or avoid it by not decompressing chunks during a consistent_snapshot sync (pause the compression jobs) or setting consistent_snapshot to false',
    );
  }
  const why =
    license === null
      ? "the setting timescaledb.license does not exist in this session: TimescaleDB's library is not loaded"
      : `its plan does not scan the chunk's compressed data, although timescaledb.license is ${license}: TimescaleDB is not active in this session`;
  throw new FatalSyncError(
    `chunk ${missed.join(', ')} is compressed, but this database session would not decompress it (${why}), so reading it would return only the rows inserted since its compression: ` +
      "load TimescaleDB with its community license (shared_preload_libraries = 'timescaledb', timescaledb.license = 'timescale'), decompress the chunk (decompress_chunk), or set compressed_chunks to skip",
  );
}
