/** The SQL dialects the store runs on; a few queries (row locks, SKIP LOCKED) differ between them. */
export type Dialect = 'sqlite' | 'postgres';
