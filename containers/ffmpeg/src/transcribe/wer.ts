/**
 * Word error rate: how far a transcript is from what was said, as (substitutions + deletions +
 * insertions) / words said. Both texts are normalised first so that only the words count: case,
 * punctuation and hyphens go, and numerals are spelled out ("42" and "forty-two" are the same words).
 *
 * Used by the transcription bench (bench/scenarios/transcribe.mjs) and its tests. Pure.
 */

const ONES = [
  'zero',
  'one',
  'two',
  'three',
  'four',
  'five',
  'six',
  'seven',
  'eight',
  'nine',
  'ten',
  'eleven',
  'twelve',
  'thirteen',
  'fourteen',
  'fifteen',
  'sixteen',
  'seventeen',
  'eighteen',
  'nineteen',
];
const TENS = ['', '', 'twenty', 'thirty', 'forty', 'fifty', 'sixty', 'seventy', 'eighty', 'ninety'];
/** Numbers up to this are spelled out; longer digit runs are read digit by digit. */
const MAX_SPELLED = 999_999_999;

/** A whole number as English words ("1205" -> "one thousand two hundred five"). Pure. */
export function numberWords(n: number): string[] {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`not a whole number: ${n}`);
  if (n < 20) return [ONES[n]!];
  if (n < 100) return n % 10 === 0 ? [TENS[n / 10]!] : [TENS[Math.floor(n / 10)]!, ONES[n % 10]!];
  for (const [size, name] of [
    [1_000_000, 'million'],
    [1_000, 'thousand'],
    [100, 'hundred'],
  ] as const) {
    if (n >= size) {
      const rest = n % size;
      return [...numberWords(Math.floor(n / size)), name, ...(rest ? numberWords(rest) : [])];
    }
  }
  return [];
}

function spellDigits(run: string): string[] {
  const n = Number(run);
  if (run.length > 1 && run.startsWith('0')) return [...run].map((d) => ONES[Number(d)]!);
  if (n <= MAX_SPELLED) return numberWords(n);
  return [...run].map((d) => ONES[Number(d)]!);
}

/**
 * The words of a text for scoring: lower case, numerals spelled out ("3.5" -> "three point five",
 * "10%" -> "ten percent", "1,200" -> "one thousand two hundred"), hyphens and punctuation dropped,
 * apostrophes inside words kept ("don't"). Pure.
 */
export function normaliseWords(text: string): string[] {
  const spaced = text
    .toLowerCase()
    .replace(/[\u2018\u2019]/g, "'")
    .replace(/(\d),(?=\d{3}\b)/g, '$1')
    .replace(/(\d)\.(\d)/g, '$1 point $2')
    .replace(/%/g, ' percent ')
    .replace(/&/g, ' and ');
  const words: string[] = [];
  for (const raw of spaced.split(/[^a-z0-9']+/)) {
    const token = raw.replace(/^'+|'+$/g, '');
    if (!token) continue;
    for (const part of token.split(/(\d+)/)) {
      if (!part) continue;
      if (/^\d+$/.test(part)) words.push(...spellDigits(part));
      else words.push(part);
    }
  }
  return words;
}

/** Edit distance between two word lists (substitutions, deletions, insertions each cost one). Pure. */
export function wordEditDistance(ref: readonly string[], hyp: readonly string[]): number {
  let prev = Array.from({ length: hyp.length + 1 }, (_, j) => j);
  for (let i = 1; i <= ref.length; i++) {
    const row = [i];
    for (let j = 1; j <= hyp.length; j++) {
      const same = ref[i - 1] === hyp[j - 1] ? 0 : 1;
      row.push(Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + same));
    }
    prev = row;
  }
  return prev[hyp.length]!;
}

export interface WerCount {
  /** edits needed to turn the transcript into the reference */
  errors: number;
  /** words in the reference */
  words: number;
}

/** Errors and reference words for one utterance; sum these over a corpus before dividing. Pure. */
export function werCount(reference: string, hypothesis: string): WerCount {
  const ref = normaliseWords(reference);
  return { errors: wordEditDistance(ref, normaliseWords(hypothesis)), words: ref.length };
}

/** Word error rate of a transcript against what was said (0 = perfect; can exceed 1). Pure. */
export function wordErrorRate(reference: string, hypothesis: string): number {
  const c = werCount(reference, hypothesis);
  if (c.words === 0) return c.errors === 0 ? 0 : 1;
  return c.errors / c.words;
}
