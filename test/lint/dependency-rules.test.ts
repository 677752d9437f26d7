/**
 * The import boundaries (.dependency-cruiser.cjs, `npm run lint:deps`): the real src/ keeps them, and each rule
 * still bites: a fixture tree with one deliberate violation per rule (test/fixtures/dependency-rules) fails with
 * exactly those violations, checked with the very same rule set.
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { cruise, type IConfiguration, type IViolation } from 'dependency-cruiser';
import { projectRoot } from '../../src/config/project-root.ts';

const config = createRequire(import.meta.url)(join(projectRoot, '.dependency-cruiser.cjs')) as IConfiguration;

async function violations(baseDir: string, options: { tsConfig?: boolean } = {}): Promise<IViolation[]> {
  const { tsConfig: _unused, ...rest } = config.options ?? {};
  const result = await cruise(['src'], { ...rest, ...(options.tsConfig ? { tsConfig: config.options?.tsConfig } : {}), baseDir, validate: true, ruleSet: { forbidden: config.forbidden } });
  if (typeof result.output === 'string') throw new Error('expected a cruise result, got formatted output');
  return result.output.summary.violations;
}

describe('import boundaries', () => {
  it('src/ has no violations (what `npm run lint:deps` checks in CI)', async () => {
    const found = await violations(projectRoot, { tsConfig: true });
    assert.deepEqual(
      found.map((v) => `${v.rule.name}: ${v.from} → ${v.to}`),
      [],
    );
  });

  it('the same rules fail on a tree with deliberate violations, naming each one', async () => {
    const found = await violations(join(projectRoot, 'test/fixtures/dependency-rules'));
    const named = found.map((v) => `${v.rule.name}: ${v.from} → ${v.to}`).sort();
    assert.deepEqual(named, [
      'api-not-to-data-or-workers: src/api/routes/widgets.routes.ts → src/store/widgets.repo.ts',
      'domain-is-pure: src/domain/widget.ts → src/store/widgets.repo.ts',
      'engine-is-a-library: src/engine/pipeline/leaky.ts → src/services/widgets/limits.ts',
      'engine-through-its-entries: src/services/widgets/widget-service.ts → src/engine/pipeline/leaky.ts',
      'no-circular: src/services/widgets/ping.ts → src/services/widgets/pong.ts',
    ]);
  });
});
