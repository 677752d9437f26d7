/** Threads, entries, jobs and the credit ledger (owned by the generation service). */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface GenerationTables {}
