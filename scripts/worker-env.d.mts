// Types for worker-env.mjs (a plain script, imported by test/unit/worker-env.test.ts).
export declare const WORKER_VARS: string[];
export declare const WORKER_SECRETS: string[];
export declare function apiKeys(value: string | undefined): string[];
export declare function parseDevVars(text: string): Record<string, string>;
export declare function workerSettings(
  env: Record<string, string | undefined>,
):
  | { vars: Record<string, string>; secrets: Record<string, string>; error?: undefined }
  | { error: string; vars?: undefined; secrets?: undefined };
export declare function authLine(envKeys: string[], devVarsKeys: string[]): string;
