/**
 * Fair scheduling between accounts (docs/scheduling.md): each account has a priority, whose weight divides the work
 * its jobs are charged, and two caps. The defaults are what an account gets until an operator runs `sdapi users set`.
 */
export const ACCOUNT_PRIORITIES = ['high', 'normal', 'low'] as const;
export type AccountPriority = (typeof ACCOUNT_PRIORITIES)[number];

/** Share weights: with every account backlogged, starts are in proportion to weight ÷ cost. */
export const PRIORITY_WEIGHT: Readonly<Record<AccountPriority, number>> = { high: 4, normal: 2, low: 1 };

export const DEFAULT_PRIORITY: AccountPriority = 'normal';
export const DEFAULT_MAX_RUNNING = 2;
export const DEFAULT_MAX_QUEUED = 20;
/** Upper bounds an operator may set (a sanity limit, not a scheduling rule). */
export const MAX_RUNNING_LIMIT = 1000;
export const MAX_QUEUED_LIMIT = 100_000;

export function isAccountPriority(value: unknown): value is AccountPriority {
  return typeof value === 'string' && (ACCOUNT_PRIORITIES as readonly string[]).includes(value);
}

/** The weight of a stored priority; an unknown value (a hand-edited row) counts as normal. */
export function priorityWeight(priority: string | null | undefined): number {
  return isAccountPriority(priority) ? PRIORITY_WEIGHT[priority] : PRIORITY_WEIGHT[DEFAULT_PRIORITY];
}
