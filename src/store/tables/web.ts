/** Browser sessions and login throttling (owned by the web/account service). */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface WebTables {}
