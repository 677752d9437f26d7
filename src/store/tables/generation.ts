/** Threads, entries, jobs and the credit ledger. Ids are UUID text, times ISO-8601 UTC text. */
import type { ColumnType } from 'kysely';

export interface ThreadsTable {
  id: string;
  user_id: string;
  ai_code: string;
  ai_version_code: string;
  title: string;
  created_at: string;
  updated_at: string;
  /** Grows with every change to the thread's entries, so a cached list can be checked with one read. */
  version: number;
}

export type EntryType = 'request' | 'response';
export type EntryStatus = 'queued' | 'running' | 'done' | 'failed' | 'cancelled';

export interface EntriesTable {
  id: string;
  thread_id: string;
  user_id: string;
  /** Monotonic per-database insertion order, so entries list in the order they were written. */
  seq: number;
  type: EntryType;
  /** For a response entry: the request it answers (UNIQUE, so each request gets exactly one response). */
  request_id: string | null;
  /** JSON text: request parameters (object) or generated images (array). */
  content: string;
  error: string | null;
  /** 0/1 (SQLite has no boolean). */
  waiting_response: number;
  credits: number;
  /** Request entries: queued → running → done | failed | cancelled. Response entries: done | failed. */
  status: EntryStatus;
  /** JSON text `{step, steps, image, images}` while running, else null. */
  progress: string | null;
  /** JSON text: storage keys of the files this entry owns (deleted with the thread). */
  files: string;
  created_at: string;
  updated_at: string;
}

export type JobStatus = 'pending' | 'running' | 'done' | 'failed' | 'cancelled';

export interface JobsTable {
  id: string;
  kind: string;
  /** Version of the payload's shape (per kind): a worker claims only the (kind, version) pairs it can run. */
  payload_version: number;
  /** JSON text, checked against the kind's schema for payload_version when claimed. */
  payload: string;
  status: JobStatus;
  /** The request entry the job answers, when there is one (UNIQUE). */
  entry_id: string | null;
  /** The canonical id of the engine the job needs; workers claim only their engines' jobs. Null: any worker. */
  engine: string | null;
  user_id: string | null;
  attempts: number;
  max_attempts: number;
  /** `host:pid:boot:instance` of the queue holding the job while running. */
  lease_owner: string | null;
  lease_expires_at: string | null;
  last_error: string | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  /** The work the job stands for (a generation: its credits), charged to its account's virtual time when claimed. */
  cost: ColumnType<number, number | undefined, number>;
  /** The virtual start time the fair scheduler gave the job when it was claimed; null until then. */
  vstart: ColumnType<number | null, number | null | undefined, number | null>;
  /** A client asked to cancel the running job: its worker stops at the next step and settles it as cancelled. */
  cancel_requested_at: ColumnType<string | null, string | null | undefined, string | null>;
}

/** Per-account state of the fair scheduler (see docs/scheduling.md). */
export interface FairShareTable {
  user_id: string;
  /** Virtual finish time of the account's last started job: Σ cost / weight, lifted to the clock when idle. */
  vtime: number;
}

/** Lifecycle events of request entries, numbered per thread, kept for replay (see services/events). */
export interface EntryEventsTable {
  thread_id: string;
  /** Per-thread order: the event stream's ids. */
  seq: number;
  user_id: string;
  entry_id: string;
  type: string;
  /** JSON text: the event's payload. */
  data: string;
  created_at: string;
}

export type LedgerKind = 'grant' | 'reserve' | 'charge' | 'refund';

export interface CreditLedgerTable {
  id: string;
  user_id: string;
  kind: LedgerKind;
  /** Change of the spendable balance (users.credits): grant/refund > 0, reserve < 0, charge 0 (it settles a reservation). */
  amount: number;
  /** Credits this movement bills (charge) or holds (reserve); 0 for grants. */
  billed: number;
  balance_after: number;
  entry_id: string | null;
  reason: string;
  created_at: string;
}

/** One row per delivered image (the gallery); written with its response entry, deleted with it. */
export interface ImagesTable {
  /** `<response entry id>:<position>`. */
  id: string;
  user_id: string;
  thread_id: string;
  /** The request entry the image answers (what "reuse settings" and deletion use). */
  request_id: string;
  response_id: string;
  /** Index of the image within its response. */
  position: number;
  url: string;
  thumbnail_url: string;
  dimensions: string;
  filesize: number;
  seed: number;
  /** The request's positive prompt text (alt text and captions). */
  prompt: string;
  created_at: string;
}

/** The service's copy of an image a request started from (init_image or mask_image). */
export interface InputImagesTable {
  /** The uuid in the file's key, `inputs/<id>.png`: the image's guid. */
  id: string;
  user_id: string;
  request_id: string;
  key: string;
  width: number;
  height: number;
  created_at: string;
}

/** One row per running worker, refreshed by its heartbeat and deleted when it stops. */
export interface WorkersTable {
  /** The worker's lease-owner id (`host:pid:boot:instance`). */
  id: string;
  host: string;
  pid: number;
  /** JSON text: `[{"id": engine id, "device": the device it actually uses}]`. */
  engines: string;
  concurrency: number;
  started_at: string;
  last_seen: string;
}

/** Image files whose rows are gone but whose objects may still be in the storage: deleted, retried until they are. */
export interface FileDeletionsTable {
  /** Storage key, e.g. `stablediffusion_text2img/<uuid>.png`. */
  key: string;
  created_at: string;
  /** Failed attempts so far. */
  attempts: number;
  last_error: string | null;
}

export interface GenerationTables {
  file_deletions: FileDeletionsTable;
  images: ImagesTable;
  input_images: InputImagesTable;
  threads: ThreadsTable;
  entries: EntriesTable;
  jobs: JobsTable;
  credit_ledger: CreditLedgerTable;
  workers: WorkersTable;
  fair_share: FairShareTable;
  entry_events: EntryEventsTable;
}
