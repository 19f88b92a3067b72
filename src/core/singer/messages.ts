import type { JsonSchema } from '../config/config-schema.js';

/** Singer messages, as the spec defines them (https://github.com/singer-io/getting-started/blob/master/docs/SPEC.md). */
export interface SchemaMessage {
  readonly type: 'SCHEMA';
  readonly stream: string;
  readonly schema: JsonSchema;
  readonly key_properties: readonly string[];
  readonly bookmark_properties?: readonly string[];
}

export interface RecordMessage {
  readonly type: 'RECORD';
  readonly stream: string;
  readonly record: Record<string, unknown>;
  readonly version?: number;
  readonly time_extracted?: string;
}

export interface StateMessage {
  readonly type: 'STATE';
  readonly value: TapState;
}

export interface ActivateVersionMessage {
  readonly type: 'ACTIVATE_VERSION';
  readonly stream: string;
  readonly version: number;
}

/** singer-sdk's BATCH: the stream's records are in the files of `manifest` (file:// URLs), in `encoding`. */
export interface BatchMessage {
  readonly type: 'BATCH';
  readonly stream: string;
  readonly encoding: { readonly format: string; readonly compression: string };
  readonly manifest: readonly string[];
}

export type SingerMessage = SchemaMessage | RecordMessage | StateMessage | ActivateVersionMessage | BatchMessage;

/** The tap's state: one bookmark per tap_stream_id, and the stream being synced. */
export interface TapState {
  bookmarks: Record<string, StreamBookmark>;
  currently_syncing: string | null;
  [key: string]: unknown;
}

/**
 * A stream's bookmark. The core writes `replication_key`, `replication_key_value`, `version` and
 * `last_pk_fetched`; a reader strategy may keep its own keys beside them (the chunk reader keeps `chunks`: `done_before`, `done`).
 */
export interface StreamBookmark {
  replication_key?: string;
  replication_key_value?: unknown;
  version?: number;
  last_pk_fetched?: Record<string, unknown>;
  [key: string]: unknown;
}
