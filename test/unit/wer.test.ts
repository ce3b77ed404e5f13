/**
 * Word error rate as the transcription bench scores engines: normalisation makes case, punctuation
 * and the way a number is written not count, and the edit distance counts each wrong, missing or
 * extra word once.
 */
import { describe, expect, it } from 'vitest';
import {
  normaliseWords,
  numberWords,
  werCount,
  wordEditDistance,
  wordErrorRate,
} from '../../containers/ffmpeg/src/transcribe/wer.ts';

describe('normaliseWords', () => {
  it('drops case, punctuation and hyphens but keeps apostrophes inside words', () => {
    expect(normaliseWords('Well-known, isn\u2019t it? "Yes!"')).toEqual(['well', 'known', "isn't", 'it', 'yes']);
  });

  it('spells numerals out as a recognizer writes them', () => {
    expect(normaliseWords('At 7 we paid 1,205 dollars, 3.5 each, 10% off')).toEqual(
      'at seven we paid one thousand two hundred five dollars three point five each ten percent off'.split(' '),
    );
    expect(normaliseWords('room 42')).toEqual(normaliseWords('Room forty-two'));
    expect(normaliseWords('007')).toEqual(['zero', 'zero', 'seven']);
  });

  it('spells whole numbers in English', () => {
    expect(numberWords(0)).toEqual(['zero']);
    expect(numberWords(90)).toEqual(['ninety']);
    expect(numberWords(2_000_017).join(' ')).toBe('two million seventeen');
  });
});

describe('word error rate', () => {
  it('is zero for the same words written differently', () => {
    expect(wordErrorRate('The bus leaves at 9.', 'the bus leaves at nine')).toBe(0);
  });

  it('counts a substitution, a deletion and an insertion once each', () => {
    const ref = 'please close the door behind you';
    expect(werCount(ref, 'please shut the door behind you')).toEqual({ errors: 1, words: 6 });
    expect(werCount(ref, 'please close door behind you')).toEqual({ errors: 1, words: 6 });
    expect(werCount(ref, 'please close the door right behind you')).toEqual({ errors: 1, words: 6 });
    expect(wordErrorRate(ref, 'please close the dog behind')).toBeCloseTo(2 / 6);
  });

  it('can exceed one when the transcript adds more than was said', () => {
    expect(wordEditDistance(['yes'], ['no', 'no', 'no'])).toBe(3);
    expect(wordErrorRate('yes', 'no no no')).toBe(3);
    expect(wordErrorRate('', '')).toBe(0);
    expect(wordErrorRate('hello there', '')).toBe(1);
  });
});
