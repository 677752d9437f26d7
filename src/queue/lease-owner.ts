/**
 * Lease owners: `host:pid:boot:instance`. `boot` is random per process, so a lease of a previous process that had
 * the same pid (a restart in a container) is recognised as dead at once, while several queue instances of one live
 * process (workers, tests, benches) never take each other's jobs; `instance` tells those apart.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';

const HOST = hostname();
const BOOT = randomBytes(4).toString('hex');
let instances = 0;

export function newLeaseOwner(): string {
  instances += 1;
  return `${HOST}:${process.pid}:${BOOT}:${instances}`;
}

/**
 * True only when the owner certainly stopped: a process on this host whose pid is gone, or an earlier process with
 * this process's pid. Other hosts' leases (and unparseable owners) are left to lease expiry.
 */
export function ownerIsDead(owner: string | null): boolean {
  if (!owner) return true;
  const [host, pidText, boot] = owner.split(':');
  if (host !== HOST) return false;
  const pid = Number(pidText);
  if (!Number.isInteger(pid) || pid <= 0) return false;
  if (pid === process.pid) return boot !== BOOT;
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}
