/**
 * How idle workers learn that a job became claimable. The job itself is always a database row; a notification is
 * only a hint (a lost one costs a polling interval, a spare one an empty claim), so any notifier is safe to use.
 */
export interface WorkNotifier {
  /** Tells idle workers (of this process, or of every process for a shared notifier) to claim now. Never throws. */
  notify(): void;
  /** Resolves on a notification, after `timeoutMs`, or when `signal` aborts. Never rejects. */
  wait(timeoutMs: number, signal?: AbortSignal): Promise<void>;
  /** Releases connections; later waits resolve at once. */
  close(): Promise<void>;
  /** Resolves when the service behind the notifier (Redis) answers; rejects when it does not. Absent: nothing to check. */
  ping?(): Promise<void>;
}
