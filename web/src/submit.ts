/**
 * The submit form: paste one or many links (one per line) or drop files, pick a preset (or edit the
 * step list in the advanced panel), and start. Each file uploads with its own progress bar before its
 * task is created. Every refusal from the server is shown with its code, next to what caused it.
 */
import type { BatchSnapshot } from '../../src/protocol/batch.ts';
import type { TaskSnapshot } from '../../src/protocol/task.ts';
import { ApiError, apiKey, createTask, getTask, request, uploadFile } from './api.ts';
import { $, h, progressBar, show } from './dom.ts';
import { formatBytes } from './format.ts';
import { DEFAULT_OPTIONS, PRESETS, type PresetId, type PresetOptions, serverKnowsOp } from './presets.ts';

/**
 * The links in the box: one per line, as the label says. A line holding several http(s) links
 * separated by spaces is split; any other line is one entry, spaces and all ("not a url" is one
 * mistake, reported once, not three).
 */
export function parseUrls(text: string): string[] {
  const out: string[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line) continue;
    const words = line.split(/\s+/);
    if (words.length > 1 && words.every((w) => /^https?:\/\//i.test(w))) out.push(...words);
    else out.push(line);
  }
  return [...new Set(out)];
}

export class SubmitForm {
  private readonly form = $('#submit-form') as HTMLFormElement;
  private readonly urls = $('#urls') as HTMLTextAreaElement;
  private readonly fileInput = $('#files') as HTMLInputElement;
  private readonly drop = $('#drop');
  private readonly fileList = $('#file-list');
  private readonly advanced = $('#advanced') as HTMLDetailsElement;
  private readonly stepsJson = $('#steps-json') as HTMLTextAreaElement;
  private readonly errors = $('#form-errors');
  private readonly uploads = $('#uploads');
  private readonly startButton = $('#start') as HTMLButtonElement;
  private files: File[] = [];
  private preset: PresetId = 'audio';
  private options: PresetOptions = { ...DEFAULT_OPTIONS };
  /** the advanced text was edited by hand: a preset change no longer overwrites it */
  private customSteps = false;

  private readonly onCreated: (snap: TaskSnapshot) => void;
  private readonly onBatch: (batch: BatchSnapshot) => void;

  constructor(onCreated: (snap: TaskSnapshot) => void, onBatch: (batch: BatchSnapshot) => void) {
    this.onCreated = onCreated;
    this.onBatch = onBatch;
    for (const input of this.form.querySelectorAll<HTMLInputElement>('input[name=preset]')) {
      input.addEventListener('change', () => {
        this.preset = input.value as PresetId;
        this.syncPreset();
      });
    }
    ($('#audio-format') as HTMLSelectElement).addEventListener('change', (e) => {
      this.options.audioFormat = (e.target as HTMLSelectElement).value as PresetOptions['audioFormat'];
      this.syncPreset();
    });
    ($('#video-height') as HTMLSelectElement).addEventListener('change', (e) => {
      this.options.height = Number((e.target as HTMLSelectElement).value) as PresetOptions['height'];
      this.syncPreset();
    });
    this.stepsJson.addEventListener('input', () => {
      this.customSteps = true;
    });
    $('#reset-steps').addEventListener('click', () => {
      this.customSteps = false;
      this.syncPreset();
    });
    this.fileInput.addEventListener('change', () => this.addFiles([...(this.fileInput.files ?? [])]));
    $('#choose-files').addEventListener('click', () => this.fileInput.click());
    this.drop.addEventListener('dragover', (e) => {
      e.preventDefault();
      this.drop.classList.add('over');
    });
    this.drop.addEventListener('dragleave', () => this.drop.classList.remove('over'));
    this.drop.addEventListener('drop', (e) => {
      e.preventDefault();
      this.drop.classList.remove('over');
      this.addFiles([...(e.dataTransfer?.files ?? [])]);
    });
    this.form.addEventListener('submit', (e) => {
      e.preventDefault();
      void this.submit();
    });
    // Ctrl/Cmd+Enter in the links box starts, as in most paste-and-go tools.
    this.urls.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) this.form.requestSubmit();
    });
    this.syncPreset();
    void this.probeOps();
  }

  /** Hide presets whose ops this server does not know (Transcript before `transcribe` exists). */
  private async probeOps(): Promise<void> {
    const transcript = this.form.querySelector<HTMLElement>('[data-preset=transcript]');
    if (!transcript) return;
    const key = apiKey();
    const known = await serverKnowsOp('transcribe', key ? { authorization: `Bearer ${key}` } : {});
    show(transcript, known);
    transcript.dataset.available = String(known);
  }

  private syncPreset(): void {
    show($('#audio-options'), this.preset === 'audio');
    show($('#video-options'), this.preset === 'video');
    // Presets without options leave no empty row behind.
    show($('#preset-options'), this.preset === 'audio' || this.preset === 'video');
    if (this.customSteps) return;
    const preset = PRESETS.find((p) => p.id === this.preset) ?? PRESETS[0]!;
    this.stepsJson.value = JSON.stringify(preset.steps(this.options), null, 2);
  }

  private addFiles(files: File[]): void {
    this.files.push(...files);
    this.renderFiles();
  }

  private renderFiles(): void {
    this.fileList.replaceChildren(
      ...this.files.map((f, i) => {
        const remove = h('button', { type: 'button', class: 'ghost', 'aria-label': `remove ${f.name}`, text: '×' });
        remove.addEventListener('click', () => {
          this.files.splice(i, 1);
          this.renderFiles();
        });
        return h('li', {}, `${f.name} · ${formatBytes(f.size)} `, remove);
      }),
    );
  }

  private steps(): Record<string, unknown>[] | null {
    try {
      const value = JSON.parse(this.stepsJson.value) as unknown;
      if (!Array.isArray(value) || value.length === 0) throw new Error('the steps must be a non-empty JSON list');
      return value as Record<string, unknown>[];
    } catch (err) {
      this.advanced.open = true;
      this.showErrors([`Steps: ${err instanceof Error ? err.message : String(err)}`]);
      this.stepsJson.focus();
      return null;
    }
  }

  private showErrors(lines: string[]): void {
    this.errors.replaceChildren(...lines.map((l) => h('li', { text: l })));
    show(this.errors, lines.length > 0);
  }

  private async submit(): Promise<void> {
    const urls = parseUrls(this.urls.value);
    const files = this.files;
    if (urls.length === 0 && files.length === 0) {
      this.showErrors(['Paste a link or add a file first.']);
      this.urls.focus();
      return;
    }
    const steps = this.steps();
    if (!steps) return;
    this.showErrors([]);
    this.startButton.disabled = true;
    const errors: string[] = [];
    const failedUrls: string[] = [];
    const describe = (err: unknown) => (err instanceof ApiError ? `${err.message} (${err.code})` : String(err));
    try {
      const playlists = ($('#as-playlist') as HTMLInputElement).checked;
      if (playlists) {
        await Promise.all(
          urls.map(async (url) => {
            try {
              await this.createPlaylistBatch(url, steps);
            } catch (err) {
              failedUrls.push(url);
              errors.push(`${url}: ${describe(err)}`);
            }
          }),
        );
      }
      const batched = playlists || (urls.length > 1 && (await this.createBatch(urls, steps)));
      await Promise.all(
        (batched ? [] : urls).map(async (url) => {
          try {
            this.onCreated((await createTask({ input: { url }, steps })).task);
          } catch (err) {
            failedUrls.push(url);
            errors.push(`${url}: ${describe(err)}`);
          }
        }),
      );
      this.files = [];
      this.renderFiles();
      await Promise.all(
        files.map(async (file) => {
          try {
            const uploaded = await this.upload(file);
            this.onCreated((await createTask({ input: uploaded.input, steps, label: file.name })).task);
          } catch (err) {
            errors.push(`${file.name}: ${describe(err)}`);
          }
        }),
      );
    } finally {
      this.startButton.disabled = false;
    }
    // Keep only what failed in the box, so fixing it and pressing Start again is all it takes.
    this.urls.value = failedUrls.join('\n');
    this.showErrors(errors);
  }

  /**
   * Several links at once become one batch: one progress summary and one zip of every output. A
   * batch is all or nothing, so when it is refused (a bad link, or a server without batches) the
   * links go one by one instead and each refusal is shown next to its own link.
   */
  private async createBatch(urls: string[], steps: Record<string, unknown>[]): Promise<boolean> {
    let created: { batch: BatchSnapshot; taskIds: string[] };
    try {
      created = await request('/api/batches', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ tasks: urls.map((url) => ({ input: { url }, steps })) }),
      });
    } catch {
      return false;
    }
    this.onBatch(created.batch);
    const snaps = await Promise.all(created.taskIds.map((id) => getTask(id).catch(() => null)));
    for (const snap of snaps) if (snap) this.onCreated(snap);
    return true;
  }

  /** A playlist or channel link: the server lists its entries and makes one batch of them. */
  private async createPlaylistBatch(url: string, steps: Record<string, unknown>[]): Promise<void> {
    const created = await request<{ batch: BatchSnapshot; taskIds: string[] }>('/api/batches', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ playlist: { url }, steps }),
    });
    this.onBatch(created.batch);
    const snaps = await Promise.all(created.taskIds.map((id) => getTask(id).catch(() => null)));
    for (const snap of snaps) if (snap) this.onCreated(snap);
  }

  private async upload(file: File) {
    const bar = progressBar(`uploading ${file.name}`);
    const label = h('span', { class: 'upload-label', text: `Uploading ${file.name}` });
    const pct = h('span', { class: 'pct', text: '0%' });
    const row = h('li', { class: 'upload' }, label, h('div', { class: 'progress-row' }, bar.el, pct));
    this.uploads.append(row);
    try {
      const result = await uploadFile(file, (sent, total) => {
        const p = total > 0 ? (sent / total) * 100 : 0;
        bar.set(p);
        pct.textContent = `${Math.floor(p)}% of ${formatBytes(total)}`;
      });
      return result;
    } finally {
      row.remove();
    }
  }
}
