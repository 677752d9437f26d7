/** Migrations are plain modules compiled into the program, so a fresh install needs no migration files on disk. */
import type { Migration, MigrationProvider } from 'kysely';
import * as identity from './001-identity.ts';
import * as generation from './002-generation.ts';
import * as web from './003-web.ts';
import * as jobVersions from './004-job-versions.ts';
import * as threadVersions from './005-thread-versions.ts';
import * as images from './006-images.ts';
import * as fleet from './007-fleet.ts';
import * as abuseResistance from './008-abuse-resistance.ts';
import * as fairShare from './009-fair-share.ts';
import * as events from './010-events.ts';
import * as protocols from './014-protocols.ts';
import * as webhooks from './011-webhooks.ts';
import * as imageInputs from './012-image-inputs.ts';
import * as fileDeletions from './013-file-deletions.ts';
import * as protocolSettings from './015-protocol-settings.ts';

const migrations: Record<string, Migration> = {
  '001-identity': identity,
  '002-generation': generation,
  '003-web': web,
  '004-job-versions': jobVersions,
  '005-thread-versions': threadVersions,
  '006-images': images,
  '007-fleet': fleet,
  '008-abuse-resistance': abuseResistance,
  '009-fair-share': fairShare,
  '010-events': events,
  '011-webhooks': webhooks,
  '012-image-inputs': imageInputs,
  '013-file-deletions': fileDeletions,
  '014-protocols': protocols,
  '015-protocol-settings': protocolSettings,
};

export const migrationProvider: MigrationProvider = {
  getMigrations: async () => migrations,
};
