/** The account's gallery: every delivered image, newest first, paginated. */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyPluginAsync } from 'fastify';
import type { EntryService, GalleryImage } from '../../services/entries/entry-service.ts';
import { requireAuth } from '../auth.ts';
import { galleryImages, pageMetaExample } from '../examples.ts';
import { errorResponses, GalleryImageSchema, PageMeta, PageQuery } from '../schemas.ts';
import { pageMeta, timestamp } from '../views.ts';

export interface ImageRouteDeps {
  entries: EntryService;
}

function imageView(image: GalleryImage): Static<typeof GalleryImageSchema> {
  return {
    entry_guid: image.entryId,
    thread_guid: image.threadId,
    thread_title: image.threadTitle,
    position: image.position,
    url: image.url,
    thumbnail_url: image.thumbnailUrl,
    dimensions: image.dimensions,
    filesize: image.filesize,
    seed: image.seed,
    prompt: image.prompt,
    created_at: timestamp(image.createdAt),
  };
}

export function imageRoutes({ entries }: ImageRouteDeps): FastifyPluginAsync {
  return async (app) => {
    app.get<{ Querystring: Static<typeof PageQuery> }>(
      '/images',
      {
        schema: {
          tags: ['images'],
          summary: "The caller's images, newest first, paginated",
          description: 'One item per delivered image, with the request entry and thread it belongs to.',
          querystring: PageQuery,
          response: {
            200: Type.Object({ data: Type.Array(GalleryImageSchema), meta: PageMeta }, { examples: [{ data: galleryImages, meta: pageMetaExample }] }),
            401: errorResponses[401],
            422: errorResponses[422],
          },
        },
      },
      async (request) => {
        const auth = requireAuth(request);
        const page = await entries.images(auth.userId, { page: request.query.page ?? 1, perPage: request.query.per_page ?? 20 });
        return { data: page.items.map(imageView), meta: pageMeta(page) };
      },
    );
  };
}
