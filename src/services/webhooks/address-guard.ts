/**
 * Where webhooks may go. A target is refused when its host is, or resolves to, an address that reaches the server's
 * own side of the network: loopback, private (RFC 1918, CGNAT, IPv6 unique-local), link-local (which holds the cloud
 * metadata endpoints 169.254.169.254 and fd00:ec2::254), unspecified, multicast, reserved and documentation ranges,
 * and IPv6 forms that embed such an IPv4 address (mapped, NAT64, 6to4). The check runs at submission and again at
 * delivery, inside the connection's own DNS lookup, so a name that re-resolves elsewhere (DNS rebinding) is caught
 * on the address actually connected to. Hosts the operator lists (SDAPI_WEBHOOK_ALLOW_HOSTS) are exempt and may use
 * plain http.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIP } from 'node:net';
import { AppError } from '../../domain/errors.ts';

export const WEBHOOK_URL_MAX = 2048;

const blocked = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8], // "this network", unspecified
  ['10.0.0.0', 8],
  ['100.64.0.0', 10], // carrier-grade NAT
  ['127.0.0.0', 8],
  ['169.254.0.0', 16], // link-local, cloud metadata
  ['172.16.0.0', 12],
  ['192.0.0.0', 24], // IETF protocol assignments
  ['192.0.2.0', 24], // documentation
  ['192.88.99.0', 24], // 6to4 relay anycast
  ['192.168.0.0', 16],
  ['198.18.0.0', 15], // benchmarking
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, broadcast
] as const) {
  blocked.addSubnet(net, prefix, 'ipv4');
}
for (const [net, prefix] of [
  ['::', 128], // unspecified
  ['::1', 128], // loopback
  ['100::', 64], // discard
  ['2001:db8::', 32], // documentation
  ['fc00::', 7], // unique local (fd00:ec2::254 is AWS's metadata endpoint)
  ['fe80::', 10], // link-local
  ['fec0::', 10], // old site-local
  ['ff00::', 8], // multicast
] as const) {
  blocked.addSubnet(net, prefix, 'ipv6');
}

/** The IPv4 address an IPv6 address carries (mapped ::ffff:a.b.c.d, compatible ::a.b.c.d, NAT64 64:ff9b::/96, 6to4 2002::/16). */
function embeddedIpv4(address: string): string | undefined {
  const words = expandIpv6(address);
  if (!words) return undefined;
  const v4 = (hi: number, lo: number) => `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
  const zeros = (from: number, to: number) => words.slice(from, to).every((w) => w === 0);
  if (zeros(0, 5) && (words[5] === 0xffff || words[5] === 0)) return v4(words[6], words[7]);
  if (words[0] === 0x64 && words[1] === 0xff9b && zeros(2, 6)) return v4(words[6], words[7]);
  if (words[0] === 0x2002) return v4(words[1], words[2]);
  return undefined;
}

/** Eight 16-bit words of an IPv6 address (a dotted IPv4 tail included), or undefined. */
function expandIpv6(address: string): number[] | undefined {
  let text = address.toLowerCase().split('%')[0];
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    const parts = dotted[1].split('.').map(Number);
    text = text.slice(0, -dotted[1].length) + `${((parts[0] << 8) | parts[1]).toString(16)}:${((parts[2] << 8) | parts[3]).toString(16)}`;
  }
  const [head, tail] = text.split('::');
  const parse = (s: string | undefined) => (s ? s.split(':').map((w) => parseInt(w, 16)) : []);
  const left = parse(head);
  const right = parse(tail);
  const words = tail === undefined ? left : [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
  return words.length === 8 && words.every((w) => Number.isInteger(w) && w >= 0 && w <= 0xffff) ? words : undefined;
}

/** True when a webhook may not be sent to this IP address. */
export function isBlockedAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return blocked.check(address, 'ipv4');
  if (family !== 6) return true; // not an address at all: refuse rather than guess
  const v4 = embeddedIpv4(address);
  if (v4 !== undefined && blocked.check(v4, 'ipv4')) return true;
  return blocked.check(address.split('%')[0], 'ipv6');
}

export type Resolver = (hostname: string) => Promise<LookupAddress[]>;

/** Every address the system resolver gives for a name (what a connection would use), within `timeoutMs`. */
export function systemResolver(timeoutMs = 5000): Resolver {
  return (hostname) =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(Object.assign(new Error(`DNS lookup of ${hostname} timed out`), { code: 'ETIMEOUT' })), timeoutMs);
      dnsLookup(hostname, { all: true, verbatim: true }, (err, addresses) => {
        clearTimeout(timer);
        if (err) reject(err);
        else resolve(addresses);
      });
    });
}

export interface WebhookTargetPolicy {
  /** Host names (lower case, IPv6 without brackets) exempt from the address check and allowed over http. */
  allowHosts: ReadonlySet<string>;
  resolve: Resolver;
}

/** The URL's host as the allow-list spells it: lower case, IPv6 without brackets. */
export function hostOf(url: URL): string {
  return url.hostname.toLowerCase().replace(/^\[(.*)\]$/, '$1');
}

const REFUSED = 'The webhook may not point to a loopback, private, link-local or cloud-metadata address.';

/**
 * Checks a webhook URL at submission: https (http only for allow-listed hosts), no credentials, a host that resolves,
 * only to addresses that may be reached. Returns the normalized URL; a 422 on `field` otherwise.
 */
export async function checkWebhookTarget(raw: string, policy: WebhookTargetPolicy, field = 'webhook'): Promise<string> {
  const fail = (message: string) => AppError.validation({ [field]: [message] });
  if (raw.length > WEBHOOK_URL_MAX) throw fail(`The webhook may not be longer than ${WEBHOOK_URL_MAX} characters.`);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw fail('The webhook must be an absolute https URL.');
  }
  const host = hostOf(url);
  const allowed = policy.allowHosts.has(host);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && allowed)) {
    throw fail(url.protocol === 'http:' ? 'The webhook must use https (plain http only for hosts the operator allows).' : 'The webhook must be an absolute https URL.');
  }
  if (url.username || url.password) throw fail('The webhook may not carry a user name or password.');
  if (url.href.length > WEBHOOK_URL_MAX) throw fail(`The webhook may not be longer than ${WEBHOOK_URL_MAX} characters.`);
  if (allowed) return url.href;
  if (isIP(host)) {
    if (isBlockedAddress(host)) throw fail(REFUSED);
    return url.href;
  }
  let addresses: LookupAddress[];
  try {
    addresses = await policy.resolve(host);
  } catch {
    throw fail('The webhook host could not be resolved.');
  }
  if (addresses.length === 0) throw fail('The webhook host could not be resolved.');
  if (addresses.some((a) => isBlockedAddress(a.address))) throw fail(REFUSED);
  return url.href;
}

/** Why a delivery may not connect to `url` before any lookup (an IP-literal host), or undefined. */
export function literalAddressRefusal(url: URL, policy: Pick<WebhookTargetPolicy, 'allowHosts'>): string | undefined {
  const host = hostOf(url);
  if (policy.allowHosts.has(host)) return undefined;
  if (url.protocol !== 'https:') return 'plain http is allowed only for hosts the operator allows';
  return isIP(host) && isBlockedAddress(host) ? 'the address is not allowed' : undefined;
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * The `lookup` of a delivery's connection: resolves like the system does, and fails the connection when any
 * address is refused (the addresses checked are the ones connected to: no gap for a rebinding DNS answer).
 */
export function guardedLookup(policy: WebhookTargetPolicy) {
  return (hostname: string, options: { all?: boolean }, callback: LookupCallback): void => {
    const exempt = policy.allowHosts.has(hostname.toLowerCase());
    policy.resolve(hostname).then(
      (addresses) => {
        if (addresses.length === 0) return callback(Object.assign(new Error(`${hostname} did not resolve`), { code: 'ENOTFOUND' }), []);
        if (!exempt && addresses.some((a) => isBlockedAddress(a.address))) {
          return callback(Object.assign(new Error('the webhook host resolves to an address that is not allowed'), { code: 'EADDRREFUSED' }), []);
        }
        if (options.all) callback(null, addresses);
        else callback(null, addresses[0].address, addresses[0].family);
      },
      (err: NodeJS.ErrnoException) => callback(err, []),
    );
  };
}
