/**
 * The page's HTTP client for /api: adds the API key (kept in localStorage) when one is set, and turns
 * error bodies into ApiError with the server's stable code, so every message the user sees names it.
 */
import type { ErrorBody } from '../../src/protocol/errors.ts';
import type { CreateTaskBody, TaskSnapshot } from '../../src/protocol/task.ts';

const KEY_STORAGE = 'clipyard.apiKey';

export class ApiError extends Error {
  readonly code: string;
  readonly status: number;
  readonly retryable: boolean;

  constructor(status: number, body: Partial<ErrorBody> | null, fallback: string) {
    super(body?.message ?? fallback);
    this.name = 'ApiError';
    this.code = body?.code ?? `http.${status}`;
    this.status = status;
    this.retryable = body?.retryable ?? status >= 500;
  }
}

export function apiKey(): string {
  try {
    return localStorage.getItem(KEY_STORAGE) ?? '';
  } catch {
    return '';
  }
}

export function setApiKey(key: string): void {
  try {
    if (key) localStorage.setItem(KEY_STORAGE, key);
    else localStorage.removeItem(KEY_STORAGE);
  } catch {
    /* storage disabled: the key lasts until the page closes */
  }
}

function authHeaders(): Record<string, string> {
  const key = apiKey();
  return key ? { authorization: `Bearer ${key}` } : {};
}

async function errorFrom(res: Response): Promise<ApiError> {
  let body: { error?: Partial<ErrorBody> } | null = null;
  try {
    body = (await res.json()) as { error?: Partial<ErrorBody> };
  } catch {
    /* not JSON */
  }
  return new ApiError(res.status, body?.error ?? null, `the server answered ${res.status}`);
}

/** fetch a JSON route; throws ApiError on any non-2xx answer and on network failure. */
export async function request<T>(path: string, init: RequestInit = {}): Promise<T> {
  let res: Response;
  try {
    res = await fetch(path, { ...init, headers: { ...authHeaders(), ...(init.headers as Record<string, string>) } });
  } catch (err) {
    throw new ApiError(
      0,
      { code: 'network' as ErrorBody['code'], message: `cannot reach clipyard (${String(err)})` },
      '',
    );
  }
  if (!res.ok) throw await errorFrom(res);
  if (res.status === 204) return undefined as T;
  return (await res.json()) as T;
}

export interface CreatedTask {
  id: string;
  status: string;
  task: TaskSnapshot;
}

export const createTask = (body: CreateTaskBody | Record<string, unknown>): Promise<CreatedTask> =>
  request('/api/tasks', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });

export const getTask = (id: string): Promise<TaskSnapshot> => request(`/api/tasks/${encodeURIComponent(id)}`);
export const cancelTask = (id: string): Promise<TaskSnapshot> =>
  request(`/api/tasks/${encodeURIComponent(id)}/cancel`, { method: 'POST' });
export const retryTask = (id: string): Promise<TaskSnapshot> =>
  request(`/api/tasks/${encodeURIComponent(id)}/retry`, { method: 'POST' });
export const deleteTask = (id: string): Promise<void> =>
  request(`/api/tasks/${encodeURIComponent(id)}`, { method: 'DELETE' });

/** The events WebSocket address; the key travels as a query parameter (browsers cannot set headers). */
export function eventsUrl(id: string, after: number): string {
  const url = new URL(`/api/tasks/${encodeURIComponent(id)}/events`, location.href);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  url.searchParams.set('after', String(after));
  const key = apiKey();
  if (key) url.searchParams.set('key', key);
  return url.href;
}

export interface UploadResult {
  id: string;
  size: number;
  input: { upload: string };
}

/**
 * Upload a file as a task input with progress. XMLHttpRequest because fetch has no upload progress;
 * the browser sets Content-Length from the File, which the route requires.
 */
export function uploadFile(file: File, onProgress: (sent: number, total: number) => void): Promise<UploadResult> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', `/api/uploads?filename=${encodeURIComponent(file.name)}`);
    for (const [k, v] of Object.entries(authHeaders())) xhr.setRequestHeader(k, v);
    xhr.setRequestHeader('content-type', 'application/octet-stream');
    xhr.upload.onprogress = (e) => onProgress(e.loaded, e.lengthComputable ? e.total : file.size);
    xhr.onerror = () => reject(new ApiError(0, null, 'the upload was interrupted (network error)'));
    xhr.onload = () => {
      let body: unknown = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        /* not JSON */
      }
      if (xhr.status === 201 || xhr.status === 200) resolve(body as UploadResult);
      else reject(new ApiError(xhr.status, (body as { error?: ErrorBody } | null)?.error ?? null, 'upload failed'));
    };
    xhr.send(file);
  });
}
