/** Page requests and results shared by every paginated list (threads, ledger). */
export interface Page {
  page: number;
  perPage: number;
}

export interface Paged<T> {
  items: T[];
  total: number;
  page: number;
  perPage: number;
}

/** Clamps a requested page to 1… and 1…maxPerPage, and gives the row offset it starts at. */
export function pageWindow(requested: Page, maxPerPage: number): Page & { offset: number } {
  const perPage = Math.min(Math.max(1, Math.trunc(requested.perPage)), maxPerPage);
  const page = Math.max(1, Math.trunc(requested.page));
  return { page, perPage, offset: (page - 1) * perPage };
}
