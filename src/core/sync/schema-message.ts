import type { StreamPlan } from '../readers/stream-plan.js';
import type { SingerMessage } from '../singer/messages.js';

/**
 * A stream's SCHEMA: its columns as the catalog describes them (or as their codec does, for a computed
 * column). Built from the plan the records are described with (`StreamOutput.described`, where a record
 * transform drops or retypes properties), so every sync loop writes the same SCHEMA for the same output.
 */
export function schemaMessage(plan: StreamPlan): SingerMessage {
  return {
    type: 'SCHEMA',
    stream: plan.stream,
    schema: {
      type: 'object',
      properties: Object.fromEntries(plan.columns.map((c) => [c.name, plan.entry.schema.properties[c.name] ?? c.codec.schema])),
    },
    key_properties: plan.keyProperties,
    bookmark_properties: plan.replicationKey ? [plan.replicationKey] : [],
  };
}
