/**
 * The pure halves of the runner's output check and error classification (output-check.ts,
 * tool-errors.ts): probe facts + what the op promised -> ok or a `media.*` code a user understands,
 * and tool stderr -> a stable code whose message shows no runner path or address.
 */
import { describe, expect, it } from 'vitest';
import { isIsoMedia, type Probe } from '../../containers/ffmpeg/src/media.ts';
import {
  checkDecode,
  checkStructure,
  type DecodeFacts,
  type OutputExpectation,
} from '../../containers/ffmpeg/src/output-check.ts';
import {
  classifyToolFailure,
  classifyToolWarnings,
  crashMessage,
  publicText,
} from '../../containers/ffmpeg/src/tool-errors.ts';
import { isRetryable } from '../../src/lib/retry-policy.ts';
import { ERROR_CODES } from '../../src/protocol/errors.ts';

const probe = (duration: string | undefined, ...streams: Probe['streams']): Probe => ({
  format: duration === undefined ? {} : { duration },
  streams,
});
const video = (width = 640, height = 360, extra = {}) => ({ index: 0, codec_type: 'video', width, height, ...extra });
const audio = { index: 1, codec_type: 'audio' };
const AUDIO: OutputExpectation = { kind: 'media', audio: true, video: false, seconds: 10 };
const VIDEO: OutputExpectation = { kind: 'media', audio: false, video: true, height: 360, seconds: 10 };
const IMAGE: OutputExpectation = { kind: 'image', audio: false, video: true };
const decoded = (frames: number, seconds: number, exitOk = true, stderr = ''): DecodeFacts => ({
  exitOk,
  frames,
  seconds,
  stderr,
});

describe('output structure', () => {
  it('accepts what the op promised', () => {
    expect(checkStructure({ size: 100, probe: probe('10.1', audio) }, AUDIO)).toEqual({ ok: true });
    expect(checkStructure({ size: 100, probe: probe('9.8', video(), audio) }, VIDEO)).toEqual({ ok: true });
    expect(checkStructure({ size: 100, probe: probe(undefined, video(320, 180)) }, IMAGE)).toEqual({ ok: true });
  });

  it('refuses an empty file or one without the promised stream, as no decodable frames', () => {
    expect(checkStructure({ size: 0, probe: null }, VIDEO)).toMatchObject({
      ok: false,
      code: 'media.no_frames',
      message: 'the input has no decodable video frames',
      retryable: false,
    });
    expect(checkStructure({ size: 262, probe: probe('0') }, VIDEO)).toMatchObject({ code: 'media.no_frames' });
    expect(checkStructure({ size: 671, probe: probe('1', video()) }, AUDIO)).toMatchObject({
      code: 'media.no_frames',
      message: 'the input has no decodable audio',
    });
    // cover art is not video
    expect(
      checkStructure(
        { size: 9, probe: probe('10', audio, video(64, 64, { disposition: { attached_pic: 1 } })) },
        VIDEO,
      ),
    ).toMatchObject({ code: 'media.no_frames' });
    // ffmpeg said it wrote no frame
    expect(
      checkStructure({ size: 500, probe: probe('10', video()), produced: { frames: 0, seconds: 0 } }, VIDEO),
    ).toMatchObject({ code: 'media.no_frames' });
  });

  it('refuses a result ffprobe cannot read back', () => {
    expect(
      checkStructure({ size: 569, probe: null, probeStderr: '/tmp/j/out-clip.mkv: Invalid data found' }, VIDEO),
    ).toMatchObject({ code: 'media.output_invalid' });
  });

  it('checks the frame size asked for', () => {
    expect(checkStructure({ size: 1, probe: probe('10', video(640, 480)) }, VIDEO)).toMatchObject({
      code: 'media.output_invalid',
    });
    expect(
      checkStructure({ size: 1, probe: probe(undefined, video(320, 180)) }, { ...IMAGE, width: 160 }),
    ).toMatchObject({
      code: 'media.output_invalid',
    });
  });

  it('checks the duration within the stated tolerance', () => {
    // default tolerance: 0.5 s or 5 %, whichever is larger
    expect(checkStructure({ size: 1, probe: probe('9.6', audio) }, AUDIO).ok).toBe(true);
    expect(checkStructure({ size: 1, probe: probe('9.4', audio) }, AUDIO)).toMatchObject({ code: 'media.truncated' });
    expect(checkStructure({ size: 1, probe: probe('10.4', audio) }, AUDIO).ok).toBe(true);
    expect(checkStructure({ size: 1, probe: probe('10.6', audio) }, AUDIO)).toMatchObject({
      code: 'media.output_invalid',
    });
    expect(checkStructure({ size: 1, probe: probe('95', audio) }, { ...AUDIO, seconds: 100 }).ok).toBe(true);
    // no declared duration at all: nothing plays
    expect(checkStructure({ size: 1, probe: probe(undefined, audio) }, AUDIO)).toMatchObject({
      code: 'media.no_frames',
    });
    // only "more than zero" asked
    expect(checkStructure({ size: 1, probe: probe('3', audio) }, { ...AUDIO, seconds: null }).ok).toBe(true);
  });

  it('catches a stream copy whose header declares more than its packets hold', () => {
    // clip 1-2 s of a 6-channel flac by copy: the header still says 6 s
    const expect1s: OutputExpectation = {
      kind: 'media',
      audio: true,
      video: false,
      seconds: 1,
      tolerance: { under: 0.5, over: 10.5 },
    };
    const facts = { size: 1, probe: probe('6', audio), produced: { frames: 0, seconds: 1 } };
    expect(checkStructure({ ...facts, copied: true }, expect1s)).toMatchObject({ code: 'media.output_invalid' });
    // an encoder's delay is not a lie: only a copy is held to it
    expect(checkStructure(facts, expect1s).ok).toBe(true);
  });
});

describe('output decode', () => {
  it('needs the first packets and the last second to decode', () => {
    expect(checkDecode(decoded(12, 0.5), decoded(25, 1), VIDEO)).toEqual({ ok: true });
    expect(checkDecode(decoded(0, 0.4), decoded(0, 1), AUDIO)).toEqual({ ok: true });
    expect(checkDecode(decoded(0, 0), null, VIDEO)).toMatchObject({ code: 'media.no_frames' });
    expect(checkDecode(decoded(12, 0.5), decoded(0, 0), VIDEO)).toMatchObject({ code: 'media.truncated' });
    expect(checkDecode(decoded(0, 0, false, 'x: Invalid data found when processing input'), null, IMAGE)).toMatchObject(
      {
        code: 'media.corrupt',
      },
    );
  });
});

describe('tool errors', () => {
  it('maps what ffmpeg said to stable media codes', () => {
    const code = (stderr: string) => classifyToolFailure('ffmpeg', stderr, null).code;
    expect(code('[mov,mp4 @ 0x55d0c0] moov atom not found\n/tmp/x/input.mp4: Invalid data found')).toBe(
      'media.truncated',
    );
    expect(code('Stream map 0:v:0 matches no streams.')).toBe('media.no_stream');
    expect(code('Decoder (codec av1) not found for input stream #0:0')).toBe('media.codec_unsupported');
    expect(code('Invalid data found when processing input')).toBe('media.corrupt');
    expect(code('something nobody expected')).toBe('media.corrupt');
    expect(classifyToolFailure('ffmpeg', 'No space left on device', null)).toMatchObject({
      code: 'runner.crashed',
      retryable: true,
    });
    expect(classifyToolFailure('ffmpeg', '', 'SIGKILL')).toMatchObject({ code: 'runner.crashed', retryable: true });
    for (const c of ['media.truncated', 'media.no_stream', 'media.corrupt'] as const) {
      expect(
        classifyToolFailure('ffmpeg', c === 'media.truncated' ? 'partial file' : 'matches no streams', null).retryable,
      ).toBe(false);
    }
  });

  it('calls a missing moov truncated only for a file that starts like an mp4', () => {
    const bytes = (text: string) => new TextEncoder().encode(text);
    expect(isIsoMedia(bytes('\0\0\0\x20ftypisom'))).toBe(true);
    expect(isIsoMedia(bytes('<html><body>'))).toBe(false);
    expect(isIsoMedia(new Uint8Array(0))).toBe(false);
  });

  it('is never retried when it is about the media, whatever the producer said', () => {
    const media = ERROR_CODES.filter((c) => c.startsWith('media.'));
    expect(media).toEqual(expect.arrayContaining(['media.no_frames', 'media.truncated', 'media.output_invalid']));
    for (const code of media) expect(isRetryable({ code, retryable: true }), code).toBe(false);
    expect(isRetryable({ code: 'runner.crashed', retryable: false })).toBe(true);
  });

  it('notices a truncated input even when ffmpeg exits 0', () => {
    expect(classifyToolWarnings('[mov @ 0x1] stream 1, offset 0x6dba: partial file')).toMatchObject({
      code: 'media.truncated',
    });
    expect(classifyToolWarnings('')).toBeNull();
  });

  it('never shows the runner its paths, pointers or addresses', () => {
    const said = classifyToolFailure(
      'ffmpeg',
      '[mov,mp4,m4a @ 0x5628e954e240] /tmp/clipyard-runner-x/job-1/input.mp4: Invalid data found when processing input',
      null,
    ).message;
    expect(said).not.toMatch(/\/tmp|0x5628|clipyard-runner/);
    expect(said).toContain('the input');
    const crash = crashMessage(new Error("ENOENT: no such file or directory, stat '/tmp/r/t-1/out-thumbnail.jpg'"));
    expect(crash).not.toMatch(/\/tmp/);
    expect(crash).toContain('thumbnail.jpg');
    expect(publicText('connect ECONNREFUSED 10.0.0.7:8788')).toBe('connect ECONNREFUSED an address');
  });
});
