/**
 * /docs: the OpenAPI document rendered as one readable HTML page, server-side, with no scripts and
 * nothing loaded from elsewhere (so it works offline, under a strict CSP, and in `wrangler dev`).
 *
 * Schemas are shown as property tables with short type names that link to each other.
 */
import type { OpenApiDocument } from './document.ts';

type Json = Record<string, unknown>;

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const esc = (s: unknown): string => String(s ?? '').replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]!);

/** `code` spans for the backticks the descriptions use. */
const prose = (s: unknown): string => esc(s).replace(/`([^`]+)`/g, '<code>$1</code>');

const METHODS = ['get', 'post', 'put', 'patch', 'delete', 'head', 'options'] as const;

/** A short, linked type name for a schema: `string`, `"mp3" | "wav"`, `TaskSnapshot[]`, ... */
function typeName(schema: unknown): string {
  if (!schema || typeof schema !== 'object') return 'any';
  const s = schema as Json;
  if (typeof s.$ref === 'string') {
    const name = s.$ref.split('/').pop()!;
    return `<a href="#schema-${esc(name)}">${esc(name)}</a>`;
  }
  if ('const' in s) return `<code>${esc(JSON.stringify(s.const))}</code>`;
  if (Array.isArray(s.enum)) return s.enum.map((v) => `<code>${esc(JSON.stringify(v))}</code>`).join(' | ');
  const union = (s.anyOf ?? s.oneOf) as unknown[] | undefined;
  if (Array.isArray(union)) return union.map(typeName).join(' | ');
  if (s.type === 'array') return `${typeName(s.items)}[]`;
  if (s.type === 'object' && !s.properties && s.additionalProperties) {
    return `map of ${typeName(s.additionalProperties)}`;
  }
  if (s.type === 'object' && s.properties) return 'object';
  return esc(s.type ?? 'any');
}

function constraints(s: Json): string {
  const parts: string[] = [];
  if (s.default !== undefined) parts.push(`default <code>${esc(JSON.stringify(s.default))}</code>`);
  for (const [k, label] of [
    ['minimum', 'min'],
    ['maximum', 'max'],
    ['minLength', 'min length'],
    ['maxLength', 'max length'],
    ['minItems', 'min items'],
    ['maxItems', 'max items'],
  ] as const) {
    if (s[k] !== undefined) parts.push(`${label} ${esc(s[k])}`);
  }
  if (s.pattern) parts.push(`pattern <code>${esc(s.pattern)}</code>`);
  return parts.join(', ');
}

function propertyTable(schema: Json): string {
  const props = schema.properties as Record<string, Json> | undefined;
  if (!props) return '';
  const required = new Set((schema.required as string[] | undefined) ?? []);
  const rows = Object.entries(props).map(([name, p]) => {
    const nested = p.type === 'object' && p.properties ? propertyTable(p) : '';
    const notes = [p.description ? prose(p.description) : '', constraints(p)].filter(Boolean).join('; ');
    return `<tr><td><code>${esc(name)}</code>${required.has(name) ? '' : '<span class="opt">optional</span>'}</td><td>${typeName(p)}</td><td>${notes}${nested}</td></tr>`;
  });
  return `<table class="props"><tr><th>field</th><th>type</th><th>notes</th></tr>${rows.join('')}</table>`;
}

/** A schema's body: its properties, or each variant of a union. */
function schemaBody(schema: Json): string {
  const union = (schema.oneOf ?? schema.anyOf) as Json[] | undefined;
  if (Array.isArray(union) && union.some((v) => v.properties)) {
    return union
      .map((v) => {
        const tag = Object.entries((v.properties as Record<string, Json>) ?? {}).find(([, p]) => 'const' in p);
        const title = tag ? `${esc(tag[0])} = <code>${esc(JSON.stringify(tag[1].const))}</code>` : 'variant';
        return `<div class="variant"><div class="vt">${title}</div>${propertyTable(v) || typeName(v)}</div>`;
      })
      .join('');
  }
  return propertyTable(schema) || `<p>${typeName(schema)}</p>`;
}

function parameters(params: Json[]): string {
  if (params.length === 0) return '';
  const rows = params.map(
    (p) =>
      `<tr><td><code>${esc(p.name)}</code>${p.required ? '' : '<span class="opt">optional</span>'}</td><td>${esc(p.in)}</td><td>${typeName(p.schema)}</td><td>${prose(p.description)}</td></tr>`,
  );
  return `<h4>Parameters</h4><table class="props"><tr><th>name</th><th>in</th><th>type</th><th>notes</th></tr>${rows.join('')}</table>`;
}

function resolveResponse(doc: OpenApiDocument, r: Json): Json {
  if (typeof r.$ref !== 'string') return r;
  const name = r.$ref.split('/').pop()!;
  return ((doc.components as Json).responses as Record<string, Json>)[name] ?? r;
}

function content(c: unknown): string {
  if (!c || typeof c !== 'object') return '';
  return Object.entries(c as Record<string, Json>)
    .map(([type, media]) => `<code>${esc(type)}</code> ${typeName(media.schema)}`)
    .join('; ');
}

function operation(doc: OpenApiDocument, path: string, method: string, op: Json, shared: Json[]): string {
  const params = [...shared, ...((op.parameters as Json[] | undefined) ?? [])];
  const body = op.requestBody as Json | undefined;
  const example = body
    ? Object.values((body.content as Record<string, Json>) ?? {}).find((m) => m.example)?.example
    : undefined;
  const responses = Object.entries((op.responses as Record<string, Json>) ?? {}).map(([status, raw]) => {
    const r = resolveResponse(doc, raw);
    return `<tr><td><code>${esc(status)}</code></td><td>${prose(r.description)}</td><td>${content(r.content)}</td></tr>`;
  });
  return `<section class="op" id="op-${esc(op.operationId)}">
<h3><span class="m m-${method}">${method.toUpperCase()}</span> <code>${esc(path)}</code> <small>${esc(op.summary)}</small></h3>
${op.description ? `<p>${prose(op.description)}</p>` : ''}
${parameters(params)}
${body ? `<h4>Body</h4><p>${content(body.content)}</p>` : ''}
${example ? `<pre>${esc(JSON.stringify(example, null, 2))}</pre>` : ''}
<h4>Responses</h4><table class="props"><tr><th>status</th><th>meaning</th><th>body</th></tr>${responses.join('')}</table>
</section>`;
}

const STYLE = `body{font:15px/1.5 system-ui,sans-serif;max-width:1000px;margin:0 auto;padding:1rem 1.5rem;color:#1d2330}
code,pre{font-family:ui-monospace,monospace;font-size:13px}pre{background:#f4f5f8;padding:.75rem;overflow:auto}
table{border-collapse:collapse;width:100%;margin:.25rem 0 1rem}td,th{border-bottom:1px solid #e3e6ee;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{font-weight:600;color:#555}.opt{color:#888;font-size:12px;margin-left:.4rem}.op{border-top:2px solid #e3e6ee;padding-top:.5rem}
.m{display:inline-block;min-width:4.5em;text-align:center;border-radius:4px;color:#fff;font-size:13px;padding:0 .4em}
.m-get{background:#2f7d4f}.m-post{background:#2b5fb4}.m-delete{background:#b53a3a}.m-head,.m-options{background:#777}
.variant{border-left:3px solid #c9d1e3;padding-left:.6rem;margin:.5rem 0}.vt{font-weight:600}nav a{margin-right:.75rem}
small{color:#666;font-weight:normal}`;

/** The whole page. */
export function docsPage(doc: OpenApiDocument): string {
  const info = doc.info as Json;
  const ops: string[] = [];
  const toc: string[] = [];
  for (const [path, item] of Object.entries(doc.paths)) {
    const shared = ((item as Json).parameters as Json[] | undefined) ?? [];
    for (const method of METHODS) {
      const op = (item as Json)[method] as Json | undefined;
      if (!op) continue;
      ops.push(operation(doc, path, method, op, shared));
      toc.push(`<li><a href="#op-${esc(op.operationId)}">${method.toUpperCase()} ${esc(path)}</a></li>`);
    }
  }
  const schemas = Object.entries(((doc.components as Json).schemas as Record<string, Json>) ?? {}).map(
    ([name, s]) =>
      `<section id="schema-${esc(name)}"><h3>${esc(name)}</h3>${s.description ? `<p>${prose(s.description)}</p>` : ''}${schemaBody(s)}</section>`,
  );
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${esc(info.title)} API</title><style>${STYLE}</style></head><body>
<h1>${esc(info.title)} API <small>v${esc(info.version)} · OpenAPI ${esc(doc.openapi)}</small></h1>
<nav><a href="/api/openapi.json">openapi.json</a><a href="/">the app</a></nav>
<p>${prose(info.summary)}</p><p>${prose(info.description)}</p>
<h2>Routes</h2><ul>${toc.join('')}</ul>
${ops.join('\n')}
<h2>Schemas</h2>${schemas.join('\n')}
</body></html>`;
}
