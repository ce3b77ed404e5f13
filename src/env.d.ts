// Secrets are not in wrangler.toml, so `wrangler types` cannot see them; declare them here
// (merged into the generated Env interfaces).
interface ClipyardSecrets {
  /** HMAC key for signed download links (wrangler secret put LINK_SECRET). */
  LINK_SECRET: string;
  /** The previous link key, still accepted while links signed with it expire. */
  LINK_SECRET_PREVIOUS?: string;
  /** Comma-separated API keys; when set, every /api route needs `Authorization: Bearer <key>`. */
  API_KEYS?: string;
  /** R2 S3 API token (with R2_ACCOUNT_ID and R2_BUCKET_NAME): output links become presigned R2 URLs. */
  R2_ACCESS_KEY_ID?: string;
  R2_SECRET_ACCESS_KEY?: string;
}
interface Env extends ClipyardSecrets {}
declare namespace Cloudflare {
  interface Env extends ClipyardSecrets {}
}
