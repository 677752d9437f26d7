/**
 * Broadcast through Redis pub/sub: one connection publishes, one subscribes (a subscribed connection can do nothing
 * else), with one Redis subscription per channel however many listeners it has in this process. While Redis is
 * unreachable, messages are dropped (see broadcast.ts: nothing that matters depends on them).
 */
import { Redis } from 'ioredis';
import type { Broadcast, BroadcastListener } from './broadcast.ts';

export interface RedisBroadcastOptions {
  url: string;
  /** Key prefix (SDAPI_QUEUE_PREFIX): installations sharing a Redis do not hear each other. */
  prefix?: string;
}

export class RedisBroadcast implements Broadcast {
  readonly #prefix: string;
  readonly #url: string;
  readonly #publisher: Redis;
  #subscriber: Redis | undefined;
  readonly #channels = new Map<string, Set<BroadcastListener>>();
  #pending: Promise<unknown> = Promise.resolve();
  #closed = false;

  constructor(options: RedisBroadcastOptions) {
    this.#url = options.url;
    this.#prefix = `${options.prefix ?? 'sdapi'}:bc:`;
    this.#publisher = this.#connect('broadcast-pub');
  }

  publish(channel: string, message: string): void {
    if (this.#closed) return;
    this.#publisher.publish(this.#prefix + channel, message).catch(() => undefined);
  }

  subscribe(channel: string, listener: BroadcastListener): () => void {
    let listeners = this.#channels.get(channel);
    if (!listeners) {
      this.#channels.set(channel, (listeners = new Set()));
      const subscriber = this.#subscriberConnection();
      this.#pending = subscriber.subscribe(this.#prefix + channel).catch(() => undefined);
    }
    listeners.add(listener);
    return () => {
      listeners.delete(listener);
      if (listeners.size > 0 || this.#channels.get(channel) !== listeners) return;
      this.#channels.delete(channel);
      if (!this.#closed) this.#pending = this.#subscriberConnection().unsubscribe(this.#prefix + channel).catch(() => undefined);
    };
  }

  async ready(): Promise<void> {
    await this.#pending;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#channels.clear();
    this.#subscriber?.disconnect();
    await this.#publisher.quit().catch(() => this.#publisher.disconnect());
  }

  #subscriberConnection(): Redis {
    if (this.#subscriber) return this.#subscriber;
    const subscriber = this.#connect('broadcast-sub');
    subscriber.on('message', (channel: string, message: string) => {
      const listeners = this.#channels.get(channel.slice(this.#prefix.length));
      if (!listeners) return;
      for (const listener of [...listeners]) {
        try {
          listener(message);
        } catch {
          // a subscriber's failure is its own
        }
      }
    });
    this.#subscriber = subscriber;
    return subscriber;
  }

  #connect(name: string): Redis {
    // ioredis re-subscribes a subscriber's channels after a reconnection by itself.
    const conn = new Redis(this.#url, { connectionName: `sdapi-${name}`, maxRetriesPerRequest: 1, retryStrategy: (times) => Math.min(times * 200, 2000) });
    conn.on('error', () => undefined);
    return conn;
  }
}
