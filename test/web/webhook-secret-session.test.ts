import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Browser, buildHarness, type Harness } from './helpers.ts';

describe('webhook secrets and webhooks from a browser session', () => {
  let h: Harness;
  let browser: Browser;
  before(async () => {
    h = await buildHarness();
    browser = new Browser(h.app);
    await browser.register('web@example.com', 'a long enough password 1');
  });
  after(() => h.close());

  it("a session reads and rotates an application's secret by id (with the CSRF token), not the token-only route", async () => {
    const app = (await browser.request('POST', '/api/v1/applications', { name: 'site' })).json().data;
    const read = await browser.request('GET', `/api/v1/applications/${app.id}/webhooks/secret`);
    assert.equal(read.statusCode, 200, read.body);
    assert.match(read.json().data.secret, /^whsec_/);
    assert.equal((await browser.request('POST', `/api/v1/applications/${app.id}/webhooks/secret/rotate`, undefined, { csrf: null })).statusCode, 403, 'CSRF token required');
    const rotated = await browser.request('POST', `/api/v1/applications/${app.id}/webhooks/secret/rotate`);
    assert.equal(rotated.statusCode, 200, rotated.body);
    assert.notEqual(rotated.json().data.secret, read.json().data.secret);
    const tokenOnly = await browser.request('GET', '/api/v1/webhook-secret');
    assert.equal(tokenOnly.statusCode, 400);
    assert.match(tokenOnly.json().message, /bearer token/);
    assert.equal((await browser.request('GET', '/api/v1/applications/00000000-0000-4000-8000-000000000000/webhooks/secret')).statusCode, 404);
  });

  it('a request from a session with a webhook is a 422 naming webhook (no application signs it)', async () => {
    const thread = (await browser.request('POST', '/api/v1/threads', { ai_version_code: 'stablediffusion_text2img' })).json().data.guid;
    const res = await browser.request('POST', `/api/v1/threads/${thread}/entry`, {
      engine: 'stable-diffusion-v1-6',
      resolution: '512x512',
      prompts: [{ text: 'a red circle', weight: 1 }],
      webhook: 'https://example.com/hook',
    });
    assert.equal(res.statusCode, 422, res.body);
    assert.deepEqual(Object.keys(res.json().errors), ['webhook']);
  });
});
