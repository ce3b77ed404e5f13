/**
 * The clipyard Worker: routes the public API to each task's Durable Object, serves signed
 * downloads from R2, and re-exports the object classes. The web page is static assets (web/public).
 */
import { type Context, Hono } from 'hono';
import { ClipyardError, knownError } from '../protocol/errors.ts';
import { type AppEnv, optionalTenant, requireTenant } from './auth.ts';
import { rateLimitByIp, rateLimitByKey, TooManyRequests } from './rate-limit.ts';
import { requestLog } from './request-log.ts';
import { batches } from './routes/batches.ts';
import { files } from './routes/files.ts';
import { health } from './routes/health.ts';
import { corsHeaders } from './routes/hls-playlists.ts';
import { openapi } from './routes/openapi.ts';
import { tasks } from './routes/tasks.ts';
import { uploads } from './routes/uploads.ts';
import { usage } from './routes/usage.ts';
import { webhooks } from './routes/webhooks.ts';
import { checkSocketOrigin } from './socket-origin.ts';
import { sweep } from './sweep.ts';

export { BatchObject } from '../objects/batch-object.ts';
export { MediaContainer } from '../objects/media-container.ts';
export { TaskObject } from '../objects/task-object.ts';
export { TenantObject } from '../objects/tenant-object.ts';

const app = new Hono<AppEnv>();

app.use('/api/*', requestLog);
app.use('/api/*', async (c, next) => {
  await next();
  c.header('cache-control', c.res.headers.get('cache-control') ?? 'no-store');
});
app.use('/api/*', rateLimitByIp);
// '/x/*' also matches '/x' itself, so each prefix is mounted once (twice would count requests twice).
app.use('/api/tasks/*', requireTenant, rateLimitByKey);
app.use('/api/tasks/:id/events', checkSocketOrigin);
app.use('/api/uploads/*', requireTenant, rateLimitByKey);
app.use('/api/usage', requireTenant, rateLimitByKey);
app.use('/api/batches/*', requireTenant, rateLimitByKey);
app.use('/api/batches/:id/events', checkSocketOrigin);
app.use('/api/webhooks/*', requireTenant, rateLimitByKey);
app.use('/api/health', optionalTenant);
app.route('/api/uploads', uploads);
app.route('/api/tasks', tasks);
app.route('/api/batches', batches);
app.route('/api/health', health);
app.route('/api/usage', usage);
app.route('/api/webhooks', webhooks);
app.route('/files', files);
app.route('/', openapi);

app.notFound((c) =>
  c.json(
    {
      error: {
        code: 'route.not_found',
        message: `no route for ${c.req.method} ${new URL(c.req.url).pathname}`,
        retryable: false,
      },
    },
    404,
  ),
);

app.onError((err, c) => {
  const res = errorResponse(err, c);
  // A download's refusal (expired, tampered, gone) is readable by the player on another site that
  // asked, as the file itself would have been: without these headers it sees only a network error.
  if (new URL(c.req.url).pathname.startsWith('/files/')) corsHeaders(res.headers);
  return res;
});

function errorResponse(err: Error, c: Context<AppEnv>): Response {
  const known = knownError(err);
  if (err instanceof TooManyRequests) c.header('retry-after', String(err.retryAfterSeconds));
  if (known) {
    return c.json({ error: known.toBody() }, known.status as 400);
  }
  console.error(
    JSON.stringify({ level: 'error', msg: 'unhandled', path: new URL(c.req.url).pathname, error: String(err) }),
  );
  const internal = new ClipyardError('internal', 'something went wrong on our side', { status: 500, retryable: true });
  return c.json({ error: internal.toBody() }, 500);
}

export default {
  fetch: app.fetch,
  /** Cron: sweep R2 objects that no task owns any more (see sweep.ts). */
  async scheduled(_controller, env, ctx) {
    ctx.waitUntil(sweep(env).then((r) => console.log(JSON.stringify({ level: 'info', msg: 'sweep', ...r }))));
  },
} satisfies ExportedHandler<Env>;
