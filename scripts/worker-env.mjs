// The Worker settings a user may give `npm start` through the environment (the README's
// Configuration table): which exist, which are secrets, and what `npm start` says about
// authentication. wrangler dev by itself reads only .dev.vars, so `API_KEYS=a,b npm start` used to
// start with authentication silently off; start.mjs passes these through instead.
// Pure: no process is started here (test/unit/worker-env.test.ts).

/** Plain settings, passed to wrangler dev as `--var NAME:value`. */
export const WORKER_VARS = [
  'CLIPYARD_ALLOW_HOSTS',
  'R2_ACCOUNT_ID',
  'R2_BUCKET_NAME',
  'LINK_TTL_SECONDS',
  'REQUEST_LOG',
  'OUTPUT_TTL_SECONDS',
  'STALL_TIMEOUT_MS',
  'RETRY_DELAYS_MS',
  'MAX_ATTEMPTS',
  'MAX_UPLOAD_BYTES',
  'MAX_CONCURRENT_TASKS',
  'MAX_TASKS_PER_DAY',
  'MAX_OUTPUT_BYTES_PER_DAY',
  'MAX_INPUT_BYTES',
  'MAX_OUTPUT_BYTES',
  'MAX_DURATION_SECONDS',
  'MAX_VIDEO_SIDE_PX',
  'JOB_TIMEOUT_MS',
  'ALLOWED_ORIGINS',
  'WS_IDLE_TIMEOUT_MS',
  'WEBHOOK_RETRY_DELAYS_MS',
  'WEBHOOK_TIMEOUT_MS',
  'WEBHOOK_SECRET_OVERLAP_SECONDS',
  'PLAYLIST_DEFAULT_LIMIT',
  'IDLE_RELEASE_MS',
];

/** Secrets: never on a command line (other users of the machine can read those); see system.mjs. */
export const WORKER_SECRETS = [
  'API_KEYS',
  'LINK_SECRET',
  'LINK_SECRET_PREVIOUS',
  'R2_ACCESS_KEY_ID',
  'R2_SECRET_ACCESS_KEY',
];

/** The keys in an API_KEYS value, as the Worker splits it (src/worker/auth.ts). */
export function apiKeys(value) {
  return String(value ?? '')
    .split(',')
    .map((k) => k.trim())
    .filter(Boolean);
}

/** Parse .dev.vars text (KEY=value lines, optional quotes, # comments). */
export function parseDevVars(text) {
  const out = {};
  for (const line of String(text).split('\n')) {
    const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$/.exec(line);
    if (!m || line.trim().startsWith('#')) continue;
    out[m[1]] = m[2].replace(/^(['"])(.*)\1$/, '$2');
  }
  return out;
}

/**
 * What the environment gives the Worker: `{ vars, secrets }` of the settings that are set, or
 * `{ error }` when a setting cannot work (`npm start` then refuses to start, saying why).
 */
export function workerSettings(env) {
  const vars = {};
  const secrets = {};
  for (const name of WORKER_VARS) if (env[name] !== undefined && env[name] !== '') vars[name] = env[name];
  for (const name of WORKER_SECRETS) if (env[name] !== undefined && env[name] !== '') secrets[name] = env[name];
  if (env.API_KEYS !== undefined && env.API_KEYS.trim() !== '' && apiKeys(env.API_KEYS).length === 0) {
    return { error: 'API_KEYS is set but holds no key: give comma-separated keys, like API_KEYS=key1,key2' };
  }
  return { vars, secrets };
}

/** The line `npm start` prints about authentication, from the keys the Worker will really have. */
export function authLine(envKeys, devVarsKeys) {
  const keys = envKeys.length ? envKeys : devVarsKeys;
  const from = envKeys.length ? 'the environment' : '.dev.vars';
  if (keys.length === 0) {
    return (
      'authentication: OFF - anyone who can reach this address can create, read, cancel and delete every task.\n' +
      '                set API_KEYS=key1,key2 (environment or .dev.vars) to require Authorization: Bearer <key>'
    );
  }
  return `authentication: on - ${keys.length} API key${keys.length === 1 ? '' : 's'} from ${from}; every /api route except /api/health and /api/openapi.json needs Authorization: Bearer <key>`;
}
