/** Domain objects → the published JSON shapes (snake_case, Laravel-style timestamps). */
import type { Entry } from '../domain/entry.ts';
import type { Paged } from '../domain/pagination.ts';
import type { EngineView } from '../services/generation/engine-catalog.ts';
import { planSize } from '../services/generation/sizing.ts';
import type { Thread } from '../services/threads/thread-service.ts';

/** `2023-07-13T19:56:25.000000Z`, as the tutorial shows. */
export function timestamp(iso: string): string {
  return iso.replace(/\.(\d{3})Z$/, '.$1000Z');
}

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

export function entryView(e: Entry) {
  return {
    guid: e.id,
    thread_guid: e.threadId,
    type: e.type,
    error: e.error,
    content: e.content,
    waiting_response: e.waitingResponse,
    credits: e.credits,
    created_at: timestamp(e.createdAt),
    status: e.status,
    progress: e.progress,
    ...(e.requestId ? { request_guid: e.requestId } : {}),
  };
}

export function pageMeta(p: Paged<unknown>) {
  return { current_page: p.page, per_page: p.perPage, total: p.total, last_page: Math.max(1, Math.ceil(p.total / p.perPage)) };
}

export function engineView(e: EngineView) {
  const native = e.model ? { width: e.model.nativeWidth, height: e.model.nativeHeight } : null;
  const upscaled = native
    ? e.resolutions.some((r) => {
        const [w, h] = r.split('x').map(Number);
        return planSize({ width: w, height: h }, native).upscaled;
      })
    : false;
  return {
    id: e.id,
    name: e.name,
    description: e.description,
    type: 'PICTURE',
    model: e.model
      ? { name: e.model.name, family: e.model.family, native_resolution: `${e.model.nativeWidth}x${e.model.nativeHeight}`, default_sampler: e.model.defaultSampler }
      : null,
    model_error: e.modelError,
    native_resolution: native ? `${native.width}x${native.height}` : null,
    upscaled,
    resolutions: e.resolutions,
    steps: { min: e.stepsMin, max: e.stepsMax, default: e.stepsDefault },
    cfg_scale: { min: e.cfgMin, max: e.cfgMax, default: e.cfgDefault },
    samplers: e.samplers,
    styles: [...e.styles],
  };
}
