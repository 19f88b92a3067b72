import type { JsonSchema } from '../../core/config/config-schema.js';

/** The LOG_BASED settings, merged into the tap's config schema (and `--about`). */
export const replicationConfigSchema: Record<string, JsonSchema> = {
  replication_slot: {
    type: 'string',
    pattern: '^[a-z0-9_]{1,63}$',
    description:
      "Logical replication slot of LOG_BASED streams (pgoutput); default tap_timescaledb_<database>, lowercased, other characters as '_'. Created when missing and the role may.",
  },
  publication: {
    type: 'string',
    description:
      "Publication the slot is read with; default tap_timescaledb. Created when missing and the role may (FOR TABLES IN SCHEMA of the selected tables' schemas and the chunks' schemas).",
    default: 'tap_timescaledb',
  },
};

export interface ReplicationSettings {
  readonly slot: string;
  readonly publication: string;
}

export function replicationSettings(raw: Readonly<Record<string, unknown>>, database: string | undefined): ReplicationSettings {
  const slot = typeof raw.replication_slot === 'string' ? raw.replication_slot : defaultSlotName(database ?? 'postgres');
  const publication = typeof raw.publication === 'string' ? raw.publication : 'tap_timescaledb';
  return { slot, publication };
}

/** Slot names allow only lower-case letters, digits and '_' (at most 63 bytes). */
export function defaultSlotName(database: string): string {
  return `tap_timescaledb_${database.toLowerCase().replace(/[^a-z0-9_]/g, '_')}`.slice(0, 63);
}
