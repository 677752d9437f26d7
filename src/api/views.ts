/** Domain objects → the published JSON shapes (snake_case, Laravel-style timestamps). */
import { timestamp } from '../domain/entry-view.ts';
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
