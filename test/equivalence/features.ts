/**
 * What a randomized workload may do. Each feature is switched on or off on its own, so the checker runs
 * today with what the tap replicates exactly and the rest is turned on as the tap learns it.
 */
export const ALL_FEATURES = [
  /** batches of new rows (values > 8 kB in the plain table's big text column among them) */
  'insert',
  /** updates of non-key columns (a TOASTed column is always set too, so none is left untouched) */
  'update',
  /** updates that set a non-key column to NULL */
  'update-null',
  /** updates of key columns: a primary key, a partition key, a hypertable's time column */
  'update-key',
  /** updates that set only small columns of rows whose big text is TOASTed, leaving it untouched */
  'update-toast',
  'delete',
  'truncate',
  /** ALTER TABLE … ADD COLUMN without a default */
  'ddl-add',
  /** ALTER TABLE … ADD COLUMN … DEFAULT (rows that exist get the default without a change in the WAL) */
  'ddl-add-default',
  'ddl-drop',
  'ddl-rename',
  'ddl-alter-type',
  /** compress_chunk / decompress_chunk on chunks of the compressed hypertables */
  'compress',
  /** CALL run_job(<compression policy>) */
  'run-job',
  /** the background scheduler runs the compression policy (schedule_interval 1 s, wait for job_stats to move) */
  'scheduler',
  /** a writer that turns timescaledb.enable_compressed_direct_batch_delete on and deletes whole segments */
  'batch-delete',
  /** rows written compressed directly (timescaledb.enable_direct_compress_insert, on a keyless hypertable) */
  'direct-compress-insert',
  /** a keyless hypertable with REPLICA IDENTITY FULL, compared as a multiset of rows */
  'keyless',
  /** some tap runs after the first complete one are SIGKILLed at a random line and resumed from the target's last STATE */
  'kill',
  /** the first run (the initial copy) may be SIGKILLed too, and the copy resumed after more changes */
  'kill-copy',
] as const;

export type Feature = (typeof ALL_FEATURES)[number];

/**
 * The features LOG_BASED replicates exactly today: the fixed-seed test in `npm test` runs these. Every
 * feature is here since key changes, untouched TOASTed values, TRUNCATE, DDL, batches written or deleted
 * directly, keyless tables (keyed in the catalog) and killed copies are handled; a feature the tap cannot
 * handle yet would be left out until its seeds pass a soak.
 */
export const WORKING_FEATURES: readonly Feature[] = ALL_FEATURES;

/** The features the checker's first version ran with before the defects were fixed: the base of the defect seeds. */
export const WORKING_BASE: readonly Feature[] = ['insert', 'update', 'update-null', 'delete', 'compress', 'run-job', 'scheduler', 'kill'];

/** Parses `a,b,c` (or `all`, or `working` plus extras: `working,update-key`) into features, naming the unknown. */
export function parseFeatures(list: string | undefined): Feature[] {
  if (!list) return [...WORKING_FEATURES];
  const out = new Set<Feature>();
  for (const name of list
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    if (name === 'all') ALL_FEATURES.forEach((f) => out.add(f));
    else if (name === 'working') WORKING_FEATURES.forEach((f) => out.add(f));
    else if ((ALL_FEATURES as readonly string[]).includes(name)) out.add(name as Feature);
    else throw new Error(`unknown feature "${name}"; known: working, all, ${ALL_FEATURES.join(', ')}`);
  }
  return ALL_FEATURES.filter((f) => out.has(f));
}
