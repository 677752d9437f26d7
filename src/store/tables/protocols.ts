/** The compatibility surfaces' bookkeeping (OpenAI Images API, AUTOMATIC1111 API). Times are ISO-8601 UTC strings. */

/** The thread an account's requests through one protocol go to (deleted with the thread). */
export interface ProtocolThreadsTable {
  user_id: string;
  /** `openai` or `a1111`. */
  protocol: string;
  thread_id: string;
}

/** A request sent through a protocol, so a repeat of it (an SDK's retry) gets the first one's result. */
export interface ProtocolRequestsTable {
  token_id: string;
  /** SHA-256 (hex) of the protocol and the request body. */
  fingerprint: string;
  user_id: string;
  /** The request entry it created (deleted with the entry). */
  entry_id: string;
  created_at: string;
}

/** An account's setting on a protocol (A1111's options), its value as JSON. */
export interface ProtocolSettingsTable {
  user_id: string;
  protocol: string;
  name: string;
  value: string;
  updated_at: string;
}

export interface ProtocolTables {
  protocol_threads: ProtocolThreadsTable;
  protocol_requests: ProtocolRequestsTable;
  protocol_settings: ProtocolSettingsTable;
}
