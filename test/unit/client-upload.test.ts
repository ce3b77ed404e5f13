/**
 * `cy.upload(file, filename)` with the arguments a newcomer might guess: each wrong guess is a
 * TypeError that says what was expected, thrown before anything is sent (never a file named
 * "[object Object]" on the server).
 */
import { describe, expect, it } from 'vitest';
import { Clipyard } from '../../src/client/index.ts';

function offline(): { cy: Clipyard; calls: string[] } {
  const calls: string[] = [];
  const cy = new Clipyard({
    url: 'http://127.0.0.1:9',
    fetch: async (input) => {
      calls.push(String(input));
      throw new Error('nothing should be sent');
    },
  });
  return { cy, calls };
}

describe('cy.upload(file, filename)', () => {
  it('refuses an options object where the file or the filename goes, saying what it wants', async () => {
    const { cy, calls } = offline();
    const blob = new Blob([new Uint8Array(10)]);
    const guesses: [unknown, unknown, RegExp][] = [
      [{ file: blob, filename: 'a.mp4' }, undefined, /file must be a Blob, Uint8Array or ArrayBuffer, not an object/],
      [blob, { filename: 'a.mp4' }, /filename must be a non-empty string, not an object \({"filename":"a.mp4"}\)/],
      [blob, undefined, /filename must be a non-empty string, not undefined/],
      [blob, '  ', /filename must be a non-empty string/],
      ['talk.mov', 'talk.mov', /file must be a Blob.*not a string \("talk.mov"\)/],
    ];
    for (const [file, name, message] of guesses) {
      const err = await cy.upload(file as Blob, name as string).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TypeError);
      expect((err as Error).message).toMatch(message);
      expect((err as Error).message).not.toContain('[object Object]');
    }
    expect(calls).toEqual([]);
  });

  it('accepts a Blob, bytes or an ArrayBuffer with a name (and then sends it)', async () => {
    const { cy, calls } = offline();
    for (const file of [new Blob([new Uint8Array(3)]), new Uint8Array(3), new ArrayBuffer(3)]) {
      await expect(cy.upload(file, 'clip.mp4')).rejects.not.toBeInstanceOf(TypeError);
    }
    expect(calls.length).toBe(3);
    expect(calls[0]).toContain('filename=clip.mp4');
  });
});
