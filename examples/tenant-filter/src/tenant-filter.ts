// An example record-transform plugin for tap-timescaledb: a target receives one tenant's rows only, and a
// tenant filter that holds for change records too. A row that moves out of the tenant reaches the target
// as a delete (its old row said the tenant); a delete of the tenant's row reaches it. It decides in JS,
// per record, with the record's operation and old row: what a server-side `where` shape cannot see when
// the rule is not SQL (a lookup, an allow-list fetched at start). It uses only the public API.
import type { JsonSchema, RecordVerdict, StreamRecord, TapPlugin } from 'tap-timescaledb';

export interface TenantFilterOptions {
  /** the column that holds the tenant */
  readonly column: string;
  /** the tenant whose rows the target gets */
  readonly tenant: number | string;
}

export const optionsSchema: JsonSchema = {
  type: 'object',
  required: ['tenant'],
  properties: {
    column: { type: 'string', default: 'tenant_id', description: 'the column that holds the tenant' },
    tenant: { type: ['integer', 'string'], description: 'the tenant whose rows the target gets' },
  },
  additionalProperties: false,
};

/**
 * The verdict for one record. A delete or an update's old row is only whole under REPLICA IDENTITY FULL;
 * with the key alone (the tenant column null), a delete is kept: deleting a key the target never had is
 * harmless, losing a delete is not.
 */
export function verdict(record: StreamRecord, column: string, tenant: unknown): RecordVerdict {
  const mine = (row: Readonly<Record<string, unknown>> | undefined) => row !== undefined && String(row[column]) === String(tenant);
  switch (record.operation) {
    case 'delete':
      return mine(record.values) || record.values[column] === null ? 'emit' : 'skip';
    case 'update':
      if (mine(record.values)) return 'emit';
      // moved out of the tenant: the target must lose the row it has
      return mine(record.old) ? 'delete' : 'skip';
    default:
      return mine(record.values) ? 'emit' : 'skip';
  }
}

export function createPlugin(options: TenantFilterOptions): TapPlugin {
  const column = options.column ?? 'tenant_id';
  return {
    name: 'tenant-filter',
    optionsSchema,
    register(_container, ctx) {
      ctx.records.transform((plan) => plan.columns.some((c) => c.name === column), {
        transform: (record) => verdict(record, column, options.tenant),
      });
    },
  };
}
