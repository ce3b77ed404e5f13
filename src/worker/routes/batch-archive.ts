/**
 * GET /api/batches/:id/archive: every output of a finished batch as one zip, streamed from R2 through
 * the zip writer as the client reads it (one file open at a time, never a whole file in memory).
 *
 * Layout: `001-<label or task id>/<output name>` per child, in the batch's order, then `manifest.json`
 * saying how each child ended (with its error) and which files are in the archive or were missing
 * (an output that expired or whose task was deleted is left out, not an error).
 */
import { contentDisposition, sanitizeFilename } from '../../lib/filenames.ts';
import { bytesEntry, type ZipEntry, zipStream } from '../../lib/zip.ts';
import type { ArchivePlan } from '../../objects/batch-object.ts';

/** A path segment that is safe in any extractor: no separators, no dot-dot, no controls, bounded. */
function segment(text: string): string {
  return sanitizeFilename(text, '_').slice(0, 80);
}

export function archiveResponse(bucket: R2Bucket, plan: ArchivePlan): Response {
  const files: { task: string; path: string; size: number; included: boolean }[] = [];
  const width = Math.max(3, String(plan.children.length).length);
  async function* entries(): AsyncGenerator<ZipEntry> {
    for (const child of plan.children) {
      const dir = `${String(child.index + 1).padStart(width, '0')}-${segment(child.label ?? child.id)}`;
      for (const output of child.outputs) {
        const path = `${dir}/${segment(output.name)}`;
        const file = { task: child.id, path, size: output.size, included: false };
        files.push(file);
        yield {
          name: path,
          open: async () => {
            const object = await bucket.get(output.key);
            if (!object) return null;
            file.included = true;
            file.size = object.size;
            return { stream: object.body, size: object.size, modifiedAt: object.uploaded };
          },
        };
      }
    }
    const manifest = {
      batch: plan.id,
      label: plan.label,
      status: plan.status,
      tasks: plan.children.map((c) => ({
        index: c.index,
        id: c.id,
        label: c.label,
        status: c.status,
        message: c.message,
        error: c.error,
        files: files.filter((f) => f.task === c.id && f.included).map((f) => f.path),
        missing: files.filter((f) => f.task === c.id && !f.included).map((f) => f.path),
      })),
    };
    yield bytesEntry('manifest.json', `${JSON.stringify(manifest, null, 2)}\n`);
  }
  const name = `${plan.label ? segment(plan.label) : `batch-${plan.id}`}.zip`;
  return new Response(zipStream(entries()), {
    headers: {
      'content-type': 'application/zip',
      'content-disposition': contentDisposition(name),
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
    },
  });
}
