/**
 * What each step of a pipeline reads: its main input and, for render, its extra inputs.
 *
 * - Main input: the output named by the step's `input` option (an earlier step's output of this task),
 *   else the output of the nearest earlier step that is not a side product (probe, thumbnail and
 *   transcribe leave the media as it was), else the task's own input.
 * - Render: each image (a URL, or an upload of this tenant) and the subtitles (a URL, an upload, or an
 *   earlier output such as transcript.srt) become extra inputs named `image-<i>` and `subtitles`.
 *
 * Pure (reads only what it is given); used by TaskObject before it starts each step's job.
 */
import { ClipyardError } from '../protocol/errors.ts';
import type { Step } from '../protocol/ops.ts';
import type { StepExtra, StepInput } from './step-job.ts';
import type { OutputRow, StepRow, TaskRow } from './task-store.ts';

/** Ops whose outputs are side products: the step after them reads the same input they did. */
export const PASSTHROUGH_OPS: ReadonlySet<string> = new Set(['probe', 'thumbnail', 'transcribe']);

const UPLOAD_ID = /^[a-z2-7]{20}$/;

function earlierOutput(outputs: readonly OutputRow[], stepIndex: number, name: string, field: string): OutputRow {
  const o = outputs.find((x) => x.name === name && x.step < stepIndex);
  if (!o) {
    throw new ClipyardError('input.missing', `${field}: no earlier step of this task produced an output named ${name}`);
  }
  return o;
}

function uploadKey(tenant: string, id: string, field: string): string {
  if (!UPLOAD_ID.test(id)) throw new ClipyardError('input.invalid', `${field}: no upload with id ${id}`);
  return `uploads/${tenant}/${id}`;
}

export function mainInput(
  task: TaskRow,
  steps: readonly StepRow[],
  outputs: readonly OutputRow[],
  stepIndex: number,
): StepInput {
  const named = steps[stepIndex]?.params.input;
  if (named) {
    const o = earlierOutput(outputs, stepIndex, named, `steps[${stepIndex}].input`);
    return { kind: 'r2', key: o.key, filename: o.name };
  }
  for (let j = stepIndex - 1; j >= 0; j--) {
    if (PASSTHROUGH_OPS.has(steps[j]!.op)) continue;
    const out = outputs.find((o) => o.step === j);
    if (out) return { kind: 'r2', key: out.key, filename: out.name };
  }
  if ('url' in task.input) return { kind: 'url', url: task.input.url };
  const filename = 'output' in task.input ? task.input.output : 'upload.bin';
  return { kind: 'r2', key: task.inputKey ?? '', filename };
}

export function extraInputs(task: TaskRow, step: Step, stepIndex: number, outputs: readonly OutputRow[]): StepExtra[] {
  if (step.op !== 'render') return [];
  const extras: StepExtra[] = step.images.map((img, i) => {
    const label = `steps[${stepIndex}].images[${i}]`;
    const name = `image-${i}`;
    if ('url' in img) return { name, label, kind: 'url', url: img.url };
    return { name, label, kind: 'r2', key: uploadKey(task.tenant, img.upload, label), filename: `${name}.bin` };
  });
  const subs = step.subtitles;
  if (subs) {
    const label = `steps[${stepIndex}].subtitles`;
    if ('url' in subs) extras.push({ name: 'subtitles', label, kind: 'url', url: subs.url });
    else if ('upload' in subs) {
      const key = uploadKey(task.tenant, subs.upload, label);
      extras.push({ name: 'subtitles', label, kind: 'r2', key, filename: 'subtitles.srt' });
    } else {
      const o = earlierOutput(outputs, stepIndex, subs.output, label);
      extras.push({ name: 'subtitles', label, kind: 'r2', key: o.key, filename: o.name });
    }
  }
  return extras;
}
