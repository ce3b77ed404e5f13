// Idle release (src/objects/idle-release.ts) may abort a TaskObject whenever nothing it counts is in
// flight, so every way into the object must be counted: each public method of the class must be
// listed in task-object.ts's TASK_ENTRY_POINTS. Read from the source, since the class itself only
// loads inside workerd.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const source = readFileSync(path.resolve(import.meta.dirname, '../../src/objects/task-object.ts'), 'utf8');

function listed(): string[] {
  const block = /const TASK_ENTRY_POINTS = \[([\s\S]*?)\] as const;/.exec(source);
  if (!block) throw new Error('TASK_ENTRY_POINTS not found in task-object.ts');
  return [...block[1].matchAll(/'(\w+)'/g)].map((m) => m[1]);
}

function publicMethods(): string[] {
  const body = source.slice(source.indexOf('export class TaskObject'));
  // class members are indented two spaces; private/protected/static/get ones are not ways in
  return [...body.matchAll(/^ {2}(?:override )?(?:async )?(\w+)\(/gm)]
    .map((m) => m[1])
    .filter((n) => n !== 'constructor');
}

describe('TaskObject entry points', () => {
  it('lists every public method, so idle release never aborts a call it did not count', () => {
    const methods = publicMethods();
    expect(methods.length).toBeGreaterThan(10);
    expect(methods.filter((m) => !listed().includes(m))).toEqual([]);
  });

  it('lists nothing that is not a method of the class', () => {
    const methods = publicMethods();
    expect(listed().filter((m) => !methods.includes(m))).toEqual([]);
  });
});
