/**
 * S3-presigned download links straight to R2 (AWS Signature V4 in the query string). When R2 S3 API
 * credentials are configured, output links point here instead of at the Worker's own `/files/...`
 * links, so the bytes go from R2 to the user without passing through the Worker. The link names the
 * download (response-content-disposition) and a safe type (response-content-type), and expires like
 * a /files link (at most 7 days, the S3 limit).
 *
 * Pure (WebCrypto, through aws4fetch's signer), so it runs in objects and in Node tests alike.
 */
import { AwsV4Signer } from 'aws4fetch';
import { contentDisposition, safeContentType } from './filenames.ts';
import { keyToPath } from './links.ts';

/** An S3 presigned URL may live at most this long. */
export const MAX_PRESIGN_SECONDS = 604_800;

export interface R2Credentials {
  accountId: string;
  bucket: string;
  accessKeyId: string;
  secretAccessKey: string;
}

/** The signer's clock format: 20130524T000000Z. */
function amzDate(nowMs: number): string {
  return new Date(nowMs).toISOString().replace(/[-:]|\.\d{3}/g, '');
}

export async function presignR2Get(
  creds: R2Credentials,
  key: string,
  ttlSeconds: number,
  opts: { filename: string; contentType?: string; nowMs?: number; endpoint?: string },
): Promise<string> {
  const endpoint = opts.endpoint ?? `https://${creds.accountId}.r2.cloudflarestorage.com`;
  const url = new URL(`${endpoint}/${encodeURIComponent(creds.bucket)}/${keyToPath(key)}`);
  url.searchParams.set('X-Amz-Expires', String(Math.min(MAX_PRESIGN_SECONDS, Math.max(1, Math.floor(ttlSeconds)))));
  url.searchParams.set('response-content-disposition', contentDisposition(opts.filename));
  url.searchParams.set('response-content-type', safeContentType(opts.contentType ?? 'application/octet-stream'));
  const signer = new AwsV4Signer({
    url: url.href,
    method: 'GET',
    accessKeyId: creds.accessKeyId,
    secretAccessKey: creds.secretAccessKey,
    service: 's3',
    region: 'auto',
    signQuery: true,
    datetime: amzDate(opts.nowMs ?? Date.now()),
  });
  return (await signer.sign()).url.toString();
}
