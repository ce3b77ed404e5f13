/**
 * Op name -> handler. Adding an op: its zod schema in src/protocol/ops.ts, a handler file here, and a
 * line below; the type makes a missing handler a compile error.
 */
import type { Op, Step } from '../../../../src/protocol/ops.ts';
import { audio } from './audio.ts';
import { clip } from './clip.ts';
import { download } from './download.ts';
import { hls } from './hls.ts';
import type { OpHandler } from './op-context.ts';
import { probe } from './probe.ts';
import { render } from './render.ts';
import { thumbnail } from './thumbnail.ts';
import { transcode } from './transcode.ts';
import { transcribe } from './transcribe.ts';

export const OP_HANDLERS: { [O in Op]: OpHandler<Extract<Step, { op: O }>> } = {
  probe,
  download,
  audio,
  transcode,
  thumbnail,
  transcribe,
  clip,
  render,
  hls,
};

export function handlerFor(step: Step): OpHandler {
  return OP_HANDLERS[step.op] as OpHandler;
}
