/**
 * Request rate limits and the 429 answers of quotas.
 *
 * Two Workers rate limiting bindings (wrangler.toml `[[ratelimits]]`): RATE_LIMIT_IP counts every
 * /api request per client address before authentication (so guessing keys is slow too), and
 * RATE_LIMIT_KEY counts per tenant once a key has matched. Loopback clients are not counted per IP,
 * and only in local mode (`RUNNER_URL` set: `npm start` and the end-to-end tests, listening on
 * 127.0.0.1). There the local engine's front door (scripts/engine-front.worker.js) writes the socket's
 * loopback address over any CF-Connecting-IP a client sent; under wrangler dev, Miniflare's entry
 * worker fills it from the socket only when the client sent none. In production the
 * address is the one Cloudflare's edge puts in CF-Connecting-IP, a loopback address cannot occur
 * there, and nothing is exempt: a client that writes `CF-Connecting-IP: 127.0.0.1` itself is counted
 * like any other. Private (10/8, 192.168/16, ...) addresses are counted. The keyless `local` tenant
 * has no key to count.
 * The bindings are approximate by design (counted per Cloudflare location), which is what a rate
 * limit for fairness needs; the exact daily quotas live in the TenantObject.
 */
import { createMiddleware } from 'hono/factory';
import { isIpAddress, parseIPv4, parseIPv6 } from '../lib/ip-address.ts';
import { dailyLimits } from '../objects/config.ts';
import { ClipyardError, type ErrorCode } from '../protocol/errors.ts';
import type { AppEnv } from './auth.ts';

/** The rate limit bindings count per this many seconds (their `period`). */
const RATE_PERIOD_SECONDS = 60;

/** A 429 with the seconds to wait; the Worker's onError turns it into a `Retry-After` header. */
export class TooManyRequests extends ClipyardError {
  readonly retryAfterSeconds: number;

  constructor(code: ErrorCode, message: string, retryAfterSeconds: number, retryable: boolean) {
    super(code, message, { status: 429, retryable });
    this.retryAfterSeconds = Math.max(1, Math.ceil(retryAfterSeconds));
  }
}

function clientIp(headers: Headers): string | null {
  const ip = headers.get('cf-connecting-ip')?.trim();
  return ip && isIpAddress(ip) ? ip : null;
}

/**
 * The unit one client is counted by: an IPv4 address, or an IPv6 /64 (one subscriber's network;
 * counting single IPv6 addresses would let one client rotate through 2^64 of them).
 */
export function clientKey(ip: string): string {
  const v6 = parseIPv6(ip);
  if (!v6) return `ip:${ip}`;
  return `ip6:${v6
    .slice(0, 4)
    .map((g) => g.toString(16))
    .join(':')}::/64`;
}

/** True for 127.0.0.0/8, ::1 and IPv4-mapped loopback (::ffff:127.x.y.z), in canonical form only. */
export function isLoopbackAddress(ip: string): boolean {
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(ip)) return (parseIPv4(ip) ?? 0) >>> 24 === 127;
  const v6 = parseIPv6(ip);
  if (!v6) return false;
  const zeros = (n: number) => v6.slice(0, n).every((g) => g === 0);
  if (zeros(7) && v6[7] === 1) return true;
  return zeros(5) && v6[5] === 0xffff && v6[6]! >> 8 === 127;
}

/**
 * Does the per-IP limit skip this client? Only loopback, and only in local mode, where the address
 * comes from the local socket (see the header); never in production.
 */
export function isExemptClient(ip: string, env: Pick<Env, 'RUNNER_URL'>): boolean {
  return Boolean(env.RUNNER_URL) && isLoopbackAddress(ip);
}

async function allowed(limiter: RateLimit | undefined, key: string): Promise<boolean> {
  if (!limiter) return true;
  try {
    return (await limiter.limit({ key })).success;
  } catch {
    // A limiter that cannot answer must not take the API down with it.
    return true;
  }
}

/** Per client IP, on every /api request, before authentication. */
export const rateLimitByIp = createMiddleware<AppEnv>(async (c, next) => {
  const ip = clientIp(c.req.raw.headers);
  if (ip && !isExemptClient(ip, c.env) && !(await allowed(c.env.RATE_LIMIT_IP, clientKey(ip)))) {
    throw new TooManyRequests(
      'rate.limited',
      'too many requests from this address; slow down and retry shortly',
      RATE_PERIOD_SECONDS,
      true,
    );
  }
  return next();
});

/** Per API key (tenant), after authentication; the keyless `local` tenant is not limited. */
export const rateLimitByKey = createMiddleware<AppEnv>(async (c, next) => {
  const tenant = c.get('tenant');
  if (tenant && tenant !== 'local' && !(await allowed(c.env.RATE_LIMIT_KEY, `key:${tenant}`))) {
    throw new TooManyRequests(
      'rate.limited',
      'too many requests with this API key; slow down and retry shortly',
      RATE_PERIOD_SECONDS,
      true,
    );
  }
  return next();
});

/**
 * Count many tasks (a batch's children) against the tenant's daily quota before they are created,
 * all or none, in one tenant call, or throw the 429 (quota.tasks / quota.output_bytes) with the
 * seconds until midnight UTC. Returns a function that gives the admissions back, for when the create
 * then fails. (A single task is admitted by its own object's create: TenantObject.enter.)
 */
export async function admitTasks(env: Env, tenant: string, taskIds: string[]): Promise<() => Promise<void>> {
  const stub = env.TENANTS.getByName(tenant);
  const verdict = await stub.admitMany(taskIds, dailyLimits(env));
  if (!verdict.ok) throw new TooManyRequests(verdict.code, verdict.message, verdict.retryAfterSeconds, false);
  return async () => {
    if (verdict.fresh.length > 0) await stub.unadmitMany(verdict.fresh).catch(() => {});
  };
}
