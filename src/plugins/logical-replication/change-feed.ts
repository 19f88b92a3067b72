import type { StreamPlan } from '../../core/readers/stream-plan.js';
import { parseLsn } from './lsn.js';
import { streamOwns, type RelationMap, type WalRelation } from './relation-map.js';
import type { WalMessage } from './wal-stream.js';

/** Messages a stream's reader may fall behind the decode before the decode waits for it. */
const CHANNEL_LIMIT = 1024;

/**
 * One decode of the slot for every LOG_BASED stream of a pass: the server streams the changes once, and
 * each stream's reader gets only what concerns it, in commit order: its relations' descriptions, its rows
 * and TRUNCATEs, and the BEGIN and COMMIT of the transactions that hold them. The rows of tables nobody
 * selected, and those TimescaleDB moves itself between its compression markers, go no further than here.
 *
 * The decode starts once every stream of the pass has attached (its changes are read) or left (it is
 * copied, or has nothing to read); a stream that stops reading (a copy again) is left out from then on.
 */
export class ChangeFeed {
  private readonly waiting: Set<string>;
  private readonly channels = new Map<string, Channel>();
  private readonly owners = new Map<number, Channel[]>();
  private started = false;

  constructor(
    streams: readonly string[],
    private readonly relations: RelationMap,
    private readonly source: () => AsyncIterable<WalMessage>,
    signal: AbortSignal,
  ) {
    this.waiting = new Set(streams);
    // a read of the pass failed before the decode started: the others must not wait for it
    signal.addEventListener('abort', () => this.fail(new Error('the pass of LOG_BASED streams ended')), { once: true });
  }

  private fail(err: unknown): void {
    for (const c of this.channels.values()) c.fail(err);
  }

  /** The stream's changes; the decode starts when the last stream of the pass has attached or left. */
  attach(plan: StreamPlan, from: bigint): AsyncIterable<WalMessage> {
    const channel = new Channel(plan, from);
    this.channels.set(plan.tapStreamId, channel);
    this.joined(plan.tapStreamId);
    return channel;
  }

  /** The stream reads no changes in this pass. */
  leave(id: string): void {
    this.joined(id);
  }

  private joined(id: string): void {
    this.waiting.delete(id);
    if (this.waiting.size > 0 || this.started) return;
    this.started = true;
    if (this.channels.size === 0) return;
    void this.run().catch((err: unknown) => this.fail(err));
  }

  private async run(): Promise<void> {
    let tx: { begin: WalMessage; commit: bigint; markers: number; sent: Set<Channel> } | undefined;
    const send = (channel: Channel, message: WalMessage): Promise<void> | undefined => {
      if (!tx || tx.sent.has(channel)) return channel.push(message);
      // a transaction the stream's bookmark is past (another stream's older bookmark started the decode)
      if (tx.commit < channel.from) return undefined;
      tx.sent.add(channel);
      const waited = channel.push(tx.begin);
      return waited ? waited.then(() => channel.push(message)) : channel.push(message);
    };
    for await (const m of this.source()) {
      if (m.row) {
        if (!tx || tx.markers > 0) continue;
        const to = this.owners.get(m.row.relationOid);
        if (!to) continue;
        for (const channel of to) {
          const waited = channel.open ? send(channel, m) : undefined;
          if (waited) await waited;
        }
        continue;
      }
      const { message } = m;
      switch (message.tag) {
        case 'begin':
          tx = { begin: m, commit: parseLsn(message.commitLsn!), markers: 0, sent: new Set() };
          break;
        case 'commit':
          for (const channel of tx?.sent ?? []) await channel.push(m);
          tx = undefined;
          break;
        case 'message':
          // rows TimescaleDB moves itself (compression, decompression) are between these markers
          if (tx && message.prefix.startsWith('::timescaledb-')) {
            if (message.prefix.endsWith('-start')) tx.markers++;
            else if (message.prefix.endsWith('-end')) tx.markers = Math.max(0, tx.markers - 1);
          }
          break;
        case 'relation': {
          const rel = await this.relations.resolve(message.schema, message.name);
          const to = [...this.channels.values()].filter((c) => c.owns(rel));
          this.owners.set(message.relationOid, to);
          for (const channel of to) if (channel.open) await channel.push(m);
          break;
        }
        case 'truncate': {
          if (!tx || tx.markers > 0) break;
          const to = new Set<Channel>();
          for (const r of message.relations) {
            const rel = r ? await this.relations.resolve(r.schema, r.name) : undefined;
            for (const c of this.channels.values()) if (c.owns(rel) && !rel?.compressedChunk) to.add(c);
          }
          for (const channel of to) if (channel.open) await send(channel, m);
          break;
        }
        default:
          break;
      }
      if (![...this.channels.values()].some((c) => c.open)) return;
    }
    for (const c of this.channels.values()) c.end();
  }
}

/** One stream's part of the feed: a bounded queue its reader iterates. */
class Channel implements AsyncIterable<WalMessage> {
  open = true;
  private items: (WalMessage | undefined)[] = [];
  private head = 0;
  private done = false;
  private error: unknown;
  private consumer?: () => void;
  private producer?: () => void;

  constructor(
    private readonly plan: StreamPlan,
    /** where the stream's bookmark is: transactions committing before it were emitted by an earlier run */
    readonly from: bigint,
  ) {}

  owns(rel: WalRelation | undefined): boolean {
    return streamOwns(this.plan, rel);
  }

  /** Queues a message; a promise when the queue is full (resolved once the reader has taken some, or has stopped). */
  push(message: WalMessage): Promise<void> | undefined {
    if (!this.open) return undefined;
    this.items.push(message);
    this.wakeConsumer();
    if (this.items.length - this.head < CHANNEL_LIMIT) return undefined;
    return new Promise((resolve) => (this.producer = resolve));
  }

  end(): void {
    this.done = true;
    this.wakeConsumer();
  }

  fail(err: unknown): void {
    this.error ??= err;
    this.done = true;
    this.wakeConsumer();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<WalMessage> {
    try {
      for (;;) {
        if (this.head < this.items.length) {
          const message = this.items[this.head]!;
          this.items[this.head++] = undefined;
          if (this.head >= CHANNEL_LIMIT) {
            this.items = this.items.slice(this.head);
            this.head = 0;
          }
          if (this.producer && this.items.length - this.head < CHANNEL_LIMIT / 2) this.wakeProducer();
          yield message;
          continue;
        }
        if (this.error !== undefined) throw this.error;
        if (this.done) return;
        await new Promise<void>((resolve) => (this.consumer = resolve));
      }
    } finally {
      // a reader that stops (a copy again, a failure) takes nothing more, and never holds the decode up
      this.open = false;
      this.items = [];
      this.head = 0;
      this.wakeProducer();
    }
  }

  private wakeConsumer(): void {
    const wake = this.consumer;
    this.consumer = undefined;
    wake?.();
  }

  private wakeProducer(): void {
    const wake = this.producer;
    this.producer = undefined;
    wake?.();
  }
}
