import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../../src/config/load-config.ts';
import { checkWebhookTarget, isBlockedAddress, type WebhookTargetPolicy } from '../../src/services/webhooks/address-guard.ts';
import { signatureHeaders } from '../../src/services/webhooks/signature.ts';
import { httpWebhookSender } from '../../src/services/webhooks/webhook-sender.ts';
import { retryDelayMs, RETRY_DELAYS_MS } from '../../src/services/webhooks/webhook-dispatcher.ts';

describe('webhook address guard', () => {
  it('refuses loopback, private, link-local, metadata, reserved and embedded-IPv4 addresses; allows public ones', () => {
    const refused = [
      '127.0.0.1', '127.255.0.3', '0.0.0.0', '10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.0.1', '169.254.169.254', '100.64.0.1', '100.127.255.254',
      '192.0.0.8', '198.18.0.1', '224.0.0.1', '255.255.255.255', '240.0.0.1',
      '::', '::1', 'fe80::1', 'fc00::1', 'fd00:ec2::254', 'ff02::1', '2001:db8::1',
      '::ffff:127.0.0.1', '::ffff:7f00:1', '::ffff:10.0.0.1', '::127.0.0.1', '64:ff9b::a9fe:a9fe', '2002:c0a8:0101::1', 'fe80::1%eth0',
      'not-an-address',
    ];
    for (const address of refused) assert.equal(isBlockedAddress(address), true, address);
    const allowed = ['93.184.216.34', '8.8.8.8', '172.32.0.1', '100.128.0.1', '2606:4700:4700::1111', '::ffff:93.184.216.34', '2002:5db8:d822::1'];
    for (const address of allowed) assert.equal(isBlockedAddress(address), false, address);
  });

  it('checks names through their resolved addresses (all of them), honours the allow-list and needs https', async () => {
    const policy: WebhookTargetPolicy = {
      allowHosts: new Set(['hooks.internal', '127.0.0.1']),
      resolve: async (host) => (host === 'public.example' ? [{ address: '93.184.216.34', family: 4 }] : [{ address: '10.0.0.5', family: 4 }]),
    };
    assert.equal(await checkWebhookTarget('https://public.example/a?b=1', policy), 'https://public.example/a?b=1');
    assert.equal(await checkWebhookTarget('http://hooks.internal:8080/x', policy), 'http://hooks.internal:8080/x');
    assert.equal(await checkWebhookTarget('http://127.0.0.1:9/x', policy), 'http://127.0.0.1:9/x');
    await assert.rejects(checkWebhookTarget('https://private.example/', policy), /loopback, private/);
    await assert.rejects(checkWebhookTarget('http://public.example/', policy), /https/);
    await assert.rejects(checkWebhookTarget(`https://public.example/${'a'.repeat(2100)}`, policy), /longer than 2048/);
  });

  it('SDAPI_WEBHOOK_ALLOW_HOSTS: comma-separated host names, lower-cased, IPv6 without brackets; malformed lists stop start-up', () => {
    assert.deepEqual(loadConfig({ SDAPI_WEBHOOK_ALLOW_HOSTS: 'Hooks.Internal, [::1],127.0.0.1' }).webhookAllowHosts, ['hooks.internal', '::1', '127.0.0.1']);
    assert.deepEqual(loadConfig({}).webhookAllowHosts, []);
    assert.throws(() => loadConfig({ SDAPI_WEBHOOK_ALLOW_HOSTS: 'a,,b' }), /SDAPI_WEBHOOK_ALLOW_HOSTS must be host names/);
  });

  it('signs as Standard Webhooks does: the spec example verifies', () => {
    // The example of the Standard Webhooks reference libraries (msg id, timestamp, body, secret → signature).
    const headers = signatureHeaders(['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'], 'msg_p5jXN8AQM9LWM0D4loKWxJek', 1614265330, '{"test": 2432232314}');
    assert.equal(headers['webhook-signature'], 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=');
  });

  it('backoff: the first retry within a minute, every delay jittered within ±20 %', () => {
    assert.ok(retryDelayMs(1, () => 0.999) <= 60_000);
    assert.equal(retryDelayMs(1, () => 0), RETRY_DELAYS_MS[0] * 0.8);
    assert.equal(retryDelayMs(3, () => 0.5), RETRY_DELAYS_MS[2]);
    assert.equal(retryDelayMs(99, () => 0.5), RETRY_DELAYS_MS[RETRY_DELAYS_MS.length - 1]);
  });
});

describe('webhook sender limits', () => {
  let server: Server;
  let base: string;
  before(async () => {
    server = createServer((req, res) => {
      if (req.url === '/hang') return; // never answers
      if (req.url === '/huge') {
        res.writeHead(200);
        const chunk = Buffer.alloc(64 * 1024, 'x');
        const write = () => {
          while (res.write(chunk)) {
            /* keep writing until the client drops the connection */
          }
        };
        res.on('drain', write);
        write();
        return;
      }
      res.writeHead(204).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => {
    server.closeAllConnections();
    server.close();
  });
  const allowLocal: WebhookTargetPolicy = { allowHosts: new Set(['127.0.0.1']), resolve: async () => [] };

  it('gives up on a receiver that does not answer in time', async () => {
    const send = httpWebhookSender({ policy: allowLocal, timeoutMs: 300 });
    assert.deepEqual(await send({ url: `${base}/hang`, headers: {}, body: '{}' }), { error: 'no answer within 300 ms' });
  });

  it('reads at most maxResponseBytes of an answer, then drops the connection', async () => {
    const send = httpWebhookSender({ policy: allowLocal, maxResponseBytes: 1024 });
    assert.deepEqual(await send({ url: `${base}/huge`, headers: {}, body: '{}' }), { statusCode: 200 });
  });

  it('refuses plain http and loopback without the allow-list, before connecting', async () => {
    const strict: WebhookTargetPolicy = { allowHosts: new Set(), resolve: async () => [{ address: '127.0.0.1', family: 4 }] };
    const send = httpWebhookSender({ policy: strict });
    assert.match((await send({ url: `${base}/ok`, headers: {}, body: '{}' })).error ?? '', /plain http/);
    assert.match((await send({ url: 'https://127.0.0.1:1/x', headers: {}, body: '{}' })).error ?? '', /not allowed/);
    assert.match((await send({ url: 'https://rebound.example:1/x', headers: {}, body: '{}' })).error ?? '', /resolves to an address that is not allowed/);
  });
});
