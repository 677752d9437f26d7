/** The whole database as Kysely sees it: one table map per area. */
import type { GenerationTables } from './tables/generation.ts';
import type { IdentityTables } from './tables/identity.ts';
import type { WebTables } from './tables/web.ts';
import type { WebhookTables } from './tables/webhooks.ts';

export interface Database extends IdentityTables, GenerationTables, WebTables, WebhookTables {}
