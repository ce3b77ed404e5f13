// Types for dev-output.mjs (the terminal filter `npm start` applies to wrangler dev's output).
export function stripAnsi(s: string): string;
export function formatRequestLine(text: string): string | null;
export function createWorkerFilter(options?: { color?: boolean }): (line: string) => string | null;
