/**
 * Prepared Kysely queries for hot paths: the query is built and compiled once (with sentinel
 * parameters), and each call only substitutes the values, skipping the builder and compiler
 * (~10 µs a query). Works for any dialect, since the SQL comes from Kysely's own compiler.
 */
import type { Compilable, CompiledQuery, Kysely } from 'kysely';

export type PreparedQuery<A extends readonly unknown[], R> = (...args: A) => Promise<R[]>;

export function prepareQuery<DB, A extends readonly unknown[], R>(db: Kysely<DB>, arity: A['length'], build: (...args: A) => Compilable<R>): PreparedQuery<A, R> {
  const sentinels = Array.from({ length: arity }, (_, i) => `\u0000prepared-arg-${i}\u0000`);
  const compiled = build(...(sentinels as unknown as A)).compile();
  const slots = compiled.parameters.map((p) => ({ arg: sentinels.indexOf(p as string), value: p }));
  return async (...args: A) => {
    const query: CompiledQuery<R> = { ...compiled, parameters: slots.map((s) => (s.arg >= 0 ? args[s.arg] : s.value)) };
    return (await db.executeQuery(query)).rows;
  };
}
