/** Domain objects → the published JSON shapes (snake_case, Laravel-style timestamps). */
import { entryView, timestamp } from '../domain/entry-view.ts';
import type { EntryEvent } from '../domain/entry-events.ts';
import type { Paged } from '../domain/pagination.ts';
import type { EngineLoad } from '../services/fleet/fleet-status.ts';
import type { Engine } from '../services/generation/engine-catalog.ts';
import type { Thread } from '../services/threads/thread-service.ts';

export { entryView, timestamp } from '../domain/entry-view.ts';

export function threadView(t: Thread) {
  return {
    guid: t.id,
    ai_code: t.aiCode,
    ai_version_code: t.aiVersionCode,
    title: t.title,
    created_at: timestamp(t.createdAt),
    updated_at: timestamp(t.updatedAt),
  };
}

/** A lifecycle event as the event stream sends it: its id, name and `data` JSON (always with `entry_guid`). */
export function eventView(e: EntryEvent): { id: string; event: string; data: Record<string, unknown> } {
  const base = { entry_guid: e.entryId, thread_guid: e.threadId };
  const data = ((): Record<string, unknown> => {
    switch (e.type) {
      case 'queued':
        return { ...base, queue_position: e.data.queuePosition };
      case 'started':
        return base;
      case 'progress':
        return { ...base, step: e.data.step, steps: e.data.steps, image: e.data.image, images: e.data.images, eta_seconds: e.data.etaSeconds };
      case 'preview':
        return { ...base, image: e.data.image, step: e.data.step, data_url: e.data.dataUrl };
      case 'completed':
        return { ...base, response: entryView(e.data.response) };
      case 'failed':
        return { ...base, error: e.data.error, response: e.data.response && entryView(e.data.response) };
      case 'cancelled':
        return { ...base, response: e.data.response && entryView(e.data.response) };
    }
  })();
  return { id: String(e.seq), event: e.type, data };
}

export function pageMeta(p: Paged<unknown>) {
  return { current_page: p.page, per_page: p.perPage, total: p.total, last_page: Math.max(1, Math.ceil(p.total / p.perPage)) };
}

/** An engine as GET /engines shows it: the registry's rules, its model's manifest, and the fleet serving it. */
export function engineView(e: Engine, styles: readonly string[], load: EngineLoad | undefined) {
  const native = `${e.model.nativeWidth}x${e.model.nativeHeight}`;
  return {
    id: e.id,
    name: e.name,
    description: e.description,
    type: 'PICTURE',
    aliases: e.aliases,
    model: { name: e.model.name, family: e.model.family, native_resolution: native, latent_multiple: e.model.latentMultiple, default_sampler: e.model.defaultSampler },
    native_resolution: native,
    upscaled: e.upscale,
    resolutions: e.resolutions,
    steps: { min: e.steps.min, max: e.steps.max, default: e.steps.default },
    cfg_scale: { min: e.cfg.min, max: e.cfg.max, default: e.cfg.default },
    samplers: e.samplers,
    default_sampler: e.defaultSampler,
    styles: [...styles],
    workers: load?.workers ?? 0,
    queued: load?.queued ?? 0,
    device: load && load.devices.length > 0 ? load.devices.join(', ') : null,
  };
}
