/**
 * The import boundaries (.dependency-cruiser.cjs): `npm run lint:deps` checks src/ in CI (.ci/run); this shows each
 * rule still bites. A fixture tree with one deliberate violation per rule (test/fixtures/dependency-rules) fails with
 * exactly those violations, checked with the very same rule set.
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { cruise, type IConfiguration, type IViolation } from 'dependency-cruiser';
import { projectRoot } from '../../src/config/project-root.ts';

const config = createRequire(import.meta.url)(join(projectRoot, '.dependency-cruiser.cjs')) as IConfiguration;

async function violations(baseDir: string): Promise<IViolation[]> {
  // The fixture has no tsconfig of its own; everything else is the project's configuration.
  const { tsConfig: _projectTsConfig, ...options } = config.options ?? {};
  const result = await cruise(['src'], { ...options, baseDir, validate: true, ruleSet: { forbidden: config.forbidden } });
  if (typeof result.output === 'string') throw new Error('expected a cruise result, got formatted output');
  return result.output.summary.violations;
}

describe('import boundaries', () => {
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
