/**
 * The OpenAPI document: it is valid OpenAPI 3.1, it lists exactly the routes the Worker's Hono app
 * serves (so a new route without docs fails here), its request schemas accept and reject what the
 * routes do, and /docs renders every operation.
 *
 * The Worker entry is imported in plain Node: the Cloudflare-only modules it pulls in are replaced
 * by empty classes, and the Hono constructor is wrapped to catch the app the entry builds.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { compileErrors, validate } from '@readme/openapi-parser';
import type { Hono } from 'hono';
import { describe, expect, it, vi } from 'vitest';
import { docsPage } from '../../src/worker/openapi/docs-page.ts';
import { openApiDocument } from '../../src/worker/openapi/document.ts';

type ApiDocument = Exclude<Parameters<typeof validate>[0], string>;

const apps = vi.hoisted(() => [] as Hono[]);

vi.mock('cloudflare:workers', () => ({ DurableObject: class {}, WorkerEntrypoint: class {} }));
vi.mock('@cloudflare/containers', () => ({ Container: class {}, getContainer: () => ({}) }));
vi.mock('hono', async (importOriginal) => {
  const mod = await importOriginal<typeof import('hono')>();
  class RecordedHono extends mod.Hono {
    constructor(...args: ConstructorParameters<typeof mod.Hono>) {
      super(...args);
      apps.push(this as unknown as Hono);
    }
  }
  return { ...mod, Hono: RecordedHono };
});

/** `METHOD /path/{param}` for every handler route of the Worker's app (middleware excluded). */
async function appRoutes(): Promise<Set<string>> {
  await import('../../src/worker/index.ts');
  const app = apps.find((a) => a.routes.some((r) => r.path === '/api/tasks/:id'));
  if (!app) throw new Error('the Worker app was not built');
  const out = new Set<string>();
  for (const r of app.routes) {
    if (r.method === 'ALL') continue; // middleware (auth, headers)
    const path = r.path.replace(/:(\w+)/g, '{$1}').replace(/\/\*$/, '/{key}');
    out.add(`${r.method} ${path.length > 1 ? path.replace(/\/$/, '') : path}`);
  }
  return out;
}

function documentedRoutes(doc: ReturnType<typeof openApiDocument>): Set<string> {
  const out = new Set<string>();
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const method of Object.keys(item)) {
      if (method !== 'parameters') out.add(`${method.toUpperCase()} ${path}`);
    }
  }
  return out;
}

describe('the OpenAPI document', () => {
  it('is valid OpenAPI 3.1', async () => {
    const doc = openApiDocument('https://clipyard.example.com');
    expect(doc.openapi).toMatch(/^3\.1\.\d+$/);
    const result = await validate(structuredClone(doc) as unknown as ApiDocument);
    expect(result.valid, result.valid ? '' : compileErrors(result)).toBe(true);
  });

  it('the validator would notice a broken document', async () => {
    const doc = structuredClone(openApiDocument()) as Record<string, unknown>;
    (doc.paths as Record<string, unknown>)['/api/tasks/{id}'] = { get: { responses: 'none' } };
    const result = await validate(doc as unknown as ApiDocument);
    expect(result.valid).toBe(false);
  });

  it('documents every route the Worker serves, and no route it does not', async () => {
    const served = await appRoutes();
    const documented = documentedRoutes(openApiDocument());
    expect([...served].sort()).toEqual([...documented].sort());
    expect(served.has('POST /api/tasks')).toBe(true);
    expect(served.has('GET /api/openapi.json')).toBe(true);
  });

  it('every $ref points at a schema or response that exists', () => {
    const doc = openApiDocument();
    const text = JSON.stringify(doc);
    const components = doc.components as Record<string, Record<string, unknown>>;
    for (const [, kind, name] of text.matchAll(/"#\/components\/(\w+)\/(\w+)"/g)) {
      expect(components[kind!]?.[name!], `${kind}/${name}`).toBeDefined();
    }
  });

  it('describes task bodies from the same zod schemas the route validates with', () => {
    const schemas = (openApiDocument().components as { schemas: Record<string, Record<string, unknown>> }).schemas;
    const step = JSON.stringify(schemas.Step);
    for (const op of ['probe', 'download', 'audio', 'transcode', 'thumbnail']) expect(step).toContain(`"${op}"`);
    expect(step).toContain('"mp3"');
    expect(schemas.CreateTask!.additionalProperties).toBe(false);
    expect(schemas.CreateTask!.required).toEqual(['input', 'steps']);
    // io: 'input' — a field with a default is optional for the client
    const audio = (schemas.Step!.oneOf as { properties: { op: { const: string } }; required: string[] }[]).find(
      (v) => v.properties.op.const === 'audio',
    );
    expect(audio?.required).toEqual(['op']);
  });

  it('/docs renders every operation and links every schema it names', () => {
    const doc = openApiDocument('http://127.0.0.1:8787');
    const html = docsPage(doc);
    expect(html).toMatch(/^<!doctype html>/);
    for (const item of Object.values(doc.paths)) {
      for (const op of Object.values(item) as { operationId?: string }[]) {
        if (op.operationId) expect(html).toContain(`id="op-${op.operationId}"`);
      }
    }
    for (const [, name] of html.matchAll(/href="#schema-(\w+)"/g)) expect(html).toContain(`id="schema-${name}"`);
    expect(html).not.toContain('<script');
  });

  it('a create answers 202 and an Idempotency-Key replay 200, in the document as in the README', () => {
    const doc = openApiDocument('http://127.0.0.1:8787');
    const readme = readFileSync(path.resolve(import.meta.dirname, '../../README.md'), 'utf8');
    for (const path of ['/api/tasks', '/api/batches']) {
      const responses = (doc.paths[path] as { post: { responses: Record<string, { description?: string }> } }).post
        .responses;
      expect(Object.keys(responses)).toEqual(expect.arrayContaining(['200', '202']));
      expect(responses['200']!.description).toMatch(/Idempotency-Key/);
      const row = readme.split('\n').find((l) => l.startsWith(`| \`POST ${path}\``));
      expect(row, `README row for POST ${path}`).toMatch(/202/);
      expect(row).toMatch(/replay answers 200|answers 200 with the same task/);
    }
  });
});
