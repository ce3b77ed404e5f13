/**
 * GET /api/openapi.json (the OpenAPI 3.1 document) and GET /docs (the same, as a readable page).
 * Both are public: they describe the API, they hold no tenant's data.
 */
import { Hono } from 'hono';
import type { AppEnv } from '../auth.ts';
import { docsPage } from '../openapi/docs-page.ts';
import { openApiDocument } from '../openapi/document.ts';

export const openapi = new Hono<AppEnv>();

openapi.get('/api/openapi.json', (c) => {
  c.header('cache-control', 'public, max-age=300');
  c.header('access-control-allow-origin', '*');
  return c.json(openApiDocument(new URL(c.req.url).origin));
});

openapi.get('/docs', (c) => {
  c.header('cache-control', 'public, max-age=300');
  c.header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'");
  return c.html(docsPage(openApiDocument(new URL(c.req.url).origin)));
});
