/**
 * The audit log (API.md §9): every admin action and every authentication failure, with actor,
 * app, IP, action, target, outcome and time. Writes are batched off the request path so a
 * flood of bad keys costs one INSERT per batch, not one per request, and never delays or fails
 * the request that caused it; a write that fails is logged, not retried forever.
 */
import type { Clock } from "../../infra/clock.ts";
import { newId } from "../../shared/ids.ts";
import type { AuditEntryInput, AuditRepository } from "./audit.repository.ts";

/** Entries kept waiting at most this long before they are written. */
const FLUSH_DELAY_MS = 50;
/** One INSERT carries at most this many entries. */
const MAX_BATCH = 500;
/** Beyond this many unwritten entries (database down, flood) new ones are counted and dropped. */
const MAX_PENDING = 10_000;

export interface AuditLogOptions {
  clock: Clock;
  onError: (err: unknown, dropped: number) => void;
}

export class AuditLog {
  private pending: Array<AuditEntryInput & { id: string; createdAt: Date }> = [];
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> = Promise.resolve();
  private dropped = 0;

  constructor(private readonly repo: AuditRepository, private readonly options: AuditLogOptions) {}

  /** Queues one entry; it is written within FLUSH_DELAY_MS. */
  record(entry: AuditEntryInput): void {
    if (this.pending.length >= MAX_PENDING) {
      this.dropped += 1;
      return;
    }
    this.pending.push({ ...entry, id: newId("aud"), createdAt: this.options.clock.now() });
    if (!this.timer) {
      this.timer = setTimeout(() => void this.flush(), FLUSH_DELAY_MS);
      this.timer.unref();
    }
  }

  /** Writes everything queued so far (tests and shutdown call it; it never throws). */
  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const batch = this.pending;
    this.pending = [];
    this.flushing = this.flushing.then(async () => {
      for (let i = 0; i < batch.length; i += MAX_BATCH) {
        const slice = batch.slice(i, i + MAX_BATCH);
        try {
          await this.repo.insertMany(slice);
        } catch (err) {
          this.options.onError(err, slice.length);
        }
      }
      if (this.dropped > 0) {
        this.options.onError(new Error("audit backlog full"), this.dropped);
        this.dropped = 0;
      }
    });
    return this.flushing;
  }
}
