/**
 * The one validator wrapper: parse a JSON body with a zod schema and turn failures into
 * ClipyardErrors with stable codes that name the offending field.
 */
import type { z } from 'zod';
import { ClipyardError, type ErrorCode } from '../protocol/errors.ts';

type Issue = z.core.$ZodIssue;

function pathText(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out ? `.${String(p)}` : String(p);
  return out || 'body';
}

function codeFor(issue: Issue, data: unknown): ErrorCode {
  const [head] = issue.path;
  if (head === 'steps') {
    if (issue.code === 'unrecognized_keys') return 'step.unknown_option';
    if (issue.code === 'invalid_union' && issue.path.at(-1) === 'op') return 'step.unknown_op';
    return 'step.invalid';
  }
  if (head === 'input') return inputMissing(data) ? 'input.missing' : 'input.invalid';
  return 'request.invalid';
}

function inputMissing(data: unknown): boolean {
  return !data || typeof data !== 'object' || (data as { input?: unknown }).input === undefined;
}

function messageFor(issue: Issue, data: unknown): string {
  const where = pathText(issue.path);
  if (issue.code === 'unrecognized_keys') {
    const keys = issue.keys.map((k) => `"${k}"`).join(', ');
    return issue.path[0] === 'steps' ? `${where}: unknown option ${keys}` : `${where}: unknown field ${keys}`;
  }
  if (issue.code === 'invalid_union' && issue.path.at(-1) === 'op') {
    return `${where}: unknown op; expected one of ${(issue as { options?: unknown[] }).options?.join(', ') ?? 'a known op'}`;
  }
  if (issue.code === 'invalid_union' && issue.path[0] === 'input') {
    return inputMissing(data)
      ? 'input: missing; give {"url": ...}, {"upload": id} or {"task": id, "output": name}'
      : 'input: expected {"url": ...}, {"upload": id} or {"task": id, "output": name}';
  }
  return `${where}: ${issue.message}`;
}

/** Validate already-parsed data. */
export function validate<S extends z.ZodType>(schema: S, data: unknown): z.output<S> {
  const result = schema.safeParse(data);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  throw new ClipyardError(codeFor(issue, data), messageFor(issue, data), { status: 400 });
}

/** Read the request body as JSON (request.invalid_json when it is not) and validate it. */
export async function jsonBody<S extends z.ZodType>(
  request: Request,
  schema: S,
  maxBytes = 256 * 1024,
): Promise<z.output<S>> {
  const text = await request.text();
  if (text.length > maxBytes)
    throw new ClipyardError('request.invalid', `body larger than ${maxBytes} bytes`, { status: 413 });
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw new ClipyardError('request.invalid_json', 'the body is not valid JSON', { status: 400 });
  }
  return validate(schema, data);
}
