// The fixed speech corpus of the transcription bench: 24 sentences of ordinary English, spoken by
// espeak-ng in three voices at three speeds, each voice's sentences joined into one recording with a
// pause between sentences (so the runner's own chunking on silences is what gets measured), plus the
// same recordings with pink noise mixed in at 10 dB signal-to-noise ratio. Built with espeak-ng and
// ffmpeg only; the same inputs give the same files (the noise has a fixed seed).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export const SENTENCES = [
  'The library closes early on Sundays, so we went to the park instead.',
  'Please remember to water the plants while I am away next week.',
  'The train to the city leaves every twenty minutes in the morning.',
  'My brother bought a new car, but he still takes the bus to work.',
  'We ordered two large pizzas and a salad for the whole team.',
  'The weather was cold and windy, so the game was moved indoors.',
  'She has been learning to play the piano for almost three years.',
  'Could you send me the report before the meeting on Thursday?',
  'The children walked to school together along the quiet road.',
  'After dinner we watched an old movie and went to bed early.',
  'The doctor told him to drink more water and get more sleep.',
  'Our neighbors are painting their house a bright shade of blue.',
  'I left my umbrella at the office, and then it started to rain.',
  'The store on the corner sells fresh bread every morning.',
  'He fixed the broken chair with some glue and a few nails.',
  'The flight was delayed for two hours because of the storm.',
  'We need to buy milk, eggs and butter on the way home.',
  'The museum has a new exhibit about the history of the river.',
  'Most people in the town know each other by their first names.',
  'The teacher asked the students to read the first chapter tonight.',
  'It took us 4 hours to drive to the coast last summer.',
  'The coffee shop downstairs opens at 7 in the morning.',
  'My phone battery died, so I could not call you back.',
  'They planted apple trees in the garden behind the old barn.',
];

/** espeak-ng voice, words per minute, pitch: three voices at three speeds. */
export const VOICES = [
  { id: 'us-male-160', voice: 'en-us', speed: 160, pitch: 50 },
  { id: 'gb-male-140', voice: 'en-gb', speed: 140, pitch: 45 },
  { id: 'us-female-185', voice: 'en-us+f3', speed: 185, pitch: 60 },
];

/** Noise is mixed in this far below the speech (RMS over the spoken parts). */
export const SNR_DB = 10;
/** Silence after each sentence, seconds. */
const PAUSE_SECONDS = 1;
const NOISE_SEED = 20_261_202;

function ffmpeg(args) {
  return execFileSync('ffmpeg', ['-nostdin', '-hide_banner', '-y', ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** RMS level (dBFS) of a file's non-silent parts, from ffmpeg's astats (which prints to stderr). */
export function speechRmsDb(file) {
  const r = spawnSync(
    'ffmpeg',
    [
      '-nostdin',
      '-hide_banner',
      '-i',
      file,
      '-af',
      'silenceremove=stop_periods=-1:stop_duration=0.2:stop_threshold=-45dB,astats=measure_perchannel=none:measure_overall=RMS_level',
      '-f',
      'null',
      '-',
    ],
    { encoding: 'utf8' },
  );
  const m = /RMS level dB: (-?[\d.]+)/.exec(r.stderr ?? '');
  if (r.status !== 0 || !m) throw new Error(`no RMS level for ${file}: ${(r.stderr ?? '').slice(-300)}`);
  return Number(m[1]);
}

function durationSeconds(file) {
  const out = execFileSync(
    'ffprobe',
    ['-v', 'error', '-show_entries', 'format=duration', '-of', 'default=nw=1:nk=1', file],
    { encoding: 'utf8' },
  );
  return Number(out.trim());
}

/**
 * Build (or reuse) the corpus under `dir`. `sentences` limits how many sentences each recording has
 * (the quick run uses fewer). Returns one entry per recording: voice, condition, file, reference
 * text and duration.
 */
export function buildCorpus(dir, { sentences = SENTENCES.length } = {}) {
  const texts = SENTENCES.slice(0, sentences);
  const root = path.join(dir, `corpus-${texts.length}`);
  mkdirSync(root, { recursive: true });
  const entries = [];
  for (const v of VOICES) {
    const clean = path.join(root, `${v.id}-clean.wav`);
    const noisy = path.join(root, `${v.id}-noise${SNR_DB}db.wav`);
    if (!existsSync(clean)) {
      const parts = texts.map((text, i) => {
        const raw = path.join(root, `${v.id}-${i}.raw.wav`);
        const part = path.join(root, `${v.id}-${i}.wav`);
        execFileSync('espeak-ng', ['-v', v.voice, '-s', String(v.speed), '-p', String(v.pitch), '-w', raw, text]);
        ffmpeg([
          '-loglevel',
          'error',
          '-i',
          raw,
          '-af',
          `apad=pad_dur=${PAUSE_SECONDS}`,
          '-ac',
          '1',
          '-ar',
          '16000',
          part,
        ]);
        return part;
      });
      const list = path.join(root, `${v.id}.list`);
      writeFileSync(list, parts.map((p) => `file '${p}'\n`).join(''));
      ffmpeg(['-loglevel', 'error', '-f', 'concat', '-safe', '0', '-i', list, '-c', 'copy', clean]);
    }
    if (!existsSync(noisy)) {
      const speech = speechRmsDb(clean);
      const seconds = durationSeconds(clean);
      const noise = path.join(root, `${v.id}-noise.wav`);
      ffmpeg([
        '-loglevel',
        'error',
        '-f',
        'lavfi',
        '-i',
        `anoisesrc=d=${Math.ceil(seconds + 1)}:c=pink:r=16000:a=0.5:s=${NOISE_SEED}`,
        noise,
      ]);
      const gainDb = speech - SNR_DB - speechRmsDb(noise);
      ffmpeg([
        '-loglevel',
        'error',
        '-i',
        clean,
        '-i',
        noise,
        '-filter_complex',
        `[1]volume=${gainDb.toFixed(2)}dB[n];[0][n]amix=inputs=2:duration=first:normalize=0`,
        '-ac',
        '1',
        '-ar',
        '16000',
        '-c:a',
        'pcm_s16le',
        noisy,
      ]);
    }
    const reference = texts.join(' ');
    entries.push({ voice: v.id, condition: 'clean', file: clean, reference, seconds: durationSeconds(clean) });
    entries.push({
      voice: v.id,
      condition: `noise ${SNR_DB} dB`,
      file: noisy,
      reference,
      seconds: durationSeconds(noisy),
    });
  }
  return entries;
}
