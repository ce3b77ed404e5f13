/** `probe`: the input's ffprobe JSON (format and streams) as probe.json. */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { OpHandler } from './op-context.ts';

export const probe: OpHandler = async (ctx) => {
  const file = path.join(ctx.job.dir, 'probe.json');
  await writeFile(file, `${JSON.stringify(ctx.input.info.probe, null, 2)}\n`);
  ctx.progress('probing', 1, { message: 'media info ready' });
  await ctx.output(file, 'probe.json');
};
