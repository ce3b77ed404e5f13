/**
 * The runner's pure pieces: ffmpeg argument builders, progress parsing, yt-dlp output, spec checks.
 */
import { describe, expect, it } from 'vitest';
import { sourceError } from '../../containers/ffmpeg/src/fetch-input.ts';
import {
  audioArgs,
  safeInput,
  thumbnailArgs,
  thumbnailTime,
  transcodeArgs,
} from '../../containers/ffmpeg/src/ffmpeg-args.ts';
import { ffmpegError, parseProgressBlock } from '../../containers/ffmpeg/src/media.ts';
import { extensionFor } from '../../containers/ffmpeg/src/ops/download.ts';
import { checkMediaLimits, extensionOf } from '../../containers/ffmpeg/src/pipeline.ts';
import { parseSpec } from '../../containers/ffmpeg/src/server.ts';
import { parseYtDlpProgress, ytDlpError } from '../../containers/ffmpeg/src/ytdlp.ts';

describe('ffmpeg arguments', () => {
  it('opens every input with local files only and no playlist or concat demuxers', () => {
    const args = safeInput('input.mp4');
    expect(args.slice(0, 2)).toEqual(['-protocol_whitelist', 'file']);
    const formats = args[3]!.split(',');
    expect(formats).toContain('mov');
    for (const bad of ['hls', 'concat', 'ffconcat', 'dash', 'lavfi', 'tty', 'x11grab'])
      expect(formats).not.toContain(bad);
    expect(args.slice(-2)).toEqual(['-i', 'input.mp4']);
  });

  it('audio: codec and bitrate per format; the first audio stream only', () => {
    const mp3 = audioArgs({ op: 'audio', format: 'mp3' }, 'in.mp4', 'out.mp3');
    expect(mp3.join(' ')).toContain('-map 0:a:0 -vn -sn -dn -c:a libmp3lame -b:a 192k out.mp3');
    expect(audioArgs({ op: 'audio', format: 'wav' }, 'in', 'o.wav')).not.toContain('-b:a');
    expect(audioArgs({ op: 'audio', format: 'opus', bitrate: '64k' }, 'in', 'o.opus').join(' ')).toContain(
      'libopus -b:a 64k',
    );
    expect(mp3).toContain('-progress');
    expect(mp3[mp3.indexOf('-progress') + 1]).toBe('pipe:1');
  });

  it('transcode: scales to the asked height, keeps audio only when there is some', () => {
    const mp4 = transcodeArgs(
      { op: 'transcode', format: 'mp4', height: 480, quality: 'medium' },
      'i',
      'o.mp4',
      true,
      720,
    );
    expect(mp4.join(' ')).toContain('-vf scale=-2:480');
    expect(mp4.join(' ')).toContain('libx264');
    expect(mp4.join(' ')).toContain('-c:a aac');
    const silent = transcodeArgs({ op: 'transcode', format: 'webm', quality: 'low' }, 'i', 'o.webm', false, 2160);
    expect(silent.join(' ')).toContain('libvpx-vp9');
    expect(silent.join(' ')).toContain('scale=-2:1080');
    expect(silent.join(' ')).not.toContain('libopus');
  });

  it('thumbnail time: 10% in (at most 10 s), pulled back inside short media', () => {
    expect(thumbnailTime(undefined, 10)).toBe(1);
    expect(thumbnailTime(undefined, 600)).toBe(10);
    expect(thumbnailTime(30, 10)).toBeCloseTo(9.9);
    expect(thumbnailTime(2, null)).toBe(2);
    const args = thumbnailArgs({ op: 'thumbnail', format: 'webp', width: 320 }, 'i', 'o.webp', 1.5);
    expect(args.join(' ')).toContain('-ss 1.500');
    expect(args.join(' ')).toContain('scale=320:-2');
    expect(args.join(' ')).toContain('libwebp');
  });
});

describe('progress and errors', () => {
  it('turns -progress blocks into a fraction, speed and eta', () => {
    expect(parseProgressBlock({ out_time_us: '5000000', speed: '2.5x', progress: 'continue' }, 10)).toEqual({
      fraction: 0.5,
      realtime: 2.5,
      eta: 2,
    });
    expect(parseProgressBlock({ out_time_us: 'N/A', progress: 'continue' }, 10)).toBeNull();
    expect(parseProgressBlock({ progress: 'end' }, null)).toEqual({ fraction: 1 });
    expect(parseProgressBlock({ out_time_us: '99000000', progress: 'continue' }, 10)?.fraction).toBe(1);
  });

  it('classifies ffmpeg failures', () => {
    expect(ffmpegError('Stream map 0:a:0 matches no streams.', null).code).toBe('media.no_stream');
    expect(ffmpegError('x\nInvalid data found when processing input', null)).toMatchObject({
      code: 'media.corrupt',
      retryable: false,
    });
    expect(ffmpegError('', 'SIGKILL')).toMatchObject({ code: 'runner.crashed', retryable: true });
  });

  it('maps source statuses to retryable or not', () => {
    expect(sourceError(404, 'http://a.example/x')).toMatchObject({ code: 'source.not_found', retryable: false });
    expect(sourceError(403, 'http://a.example/x')).toMatchObject({ code: 'source.forbidden', retryable: false });
    expect(sourceError(429, 'http://a.example/x')).toMatchObject({ code: 'source.rate_limited', retryable: true });
    expect(sourceError(503, 'http://a.example/x')).toMatchObject({ code: 'source.server_error', retryable: true });
    expect(sourceError(418, 'http://a.example/x')).toMatchObject({ code: 'source.http_error', retryable: false });
  });

  it('parses yt-dlp progress lines and errors', () => {
    expect(parseYtDlpProgress('clipyard-progress 1024 4096 NA 512.5 6')).toEqual({
      bytes: 1024,
      totalBytes: 4096,
      bytesPerSecond: 513,
      eta: 6,
    });
    expect(parseYtDlpProgress('clipyard-progress 10 NA 2000.7 NA NA')).toEqual({ bytes: 10, totalBytes: 2001 });
    expect(parseYtDlpProgress('[download] 10%')).toBeNull();
    expect(ytDlpError('ERROR: [youtube] x: Requested format is not available').code).toBe('media.format_unavailable');
    expect(ytDlpError('ERROR: Unsupported URL: https://a.example').code).toBe('media.unsupported');
    expect(ytDlpError('ERROR: unable to download video data: HTTP Error 503: x')).toMatchObject({
      code: 'source.server_error',
      retryable: true,
    });
  });
});

describe('names and specs', () => {
  it('derives extensions from what ffprobe found, not from the name', () => {
    expect(extensionFor('mov,mp4,m4a,3gp,3g2,mj2', ['h264', 'aac'], 'bin')).toBe('mp4');
    expect(extensionFor('mov,mp4,m4a,3gp,3g2,mj2', ['aac'], 'bin')).toBe('m4a');
    expect(extensionFor('matroska,webm', ['vp9', 'opus'], 'bin')).toBe('webm');
    expect(extensionFor('matroska,webm', ['h264', 'aac'], 'bin')).toBe('mkv');
    expect(extensionFor('something', [], 'bin')).toBe('bin');
    expect(extensionOf('/a/b/clip.MP4?x=1')).toBe('mp4');
    expect(extensionOf('../../etc/passwd')).toBe('bin');
  });

  it('accepts well-formed job specs and names what is wrong with others', () => {
    const ok = parseSpec({
      jobId: 'abc-a1-s0',
      step: { op: 'audio' },
      input: { kind: 'url', url: 'https://x.example/a' },
    });
    expect(typeof ok === 'object' && ok.step).toEqual({ op: 'audio', format: 'mp3' });
    expect(parseSpec({ jobId: '../etc', step: { op: 'audio' }, input: { kind: 'url', url: 'x' } })).toMatch(/jobId/);
    expect(parseSpec({ jobId: 'a', step: { op: 'explode' }, input: { kind: 'url', url: 'x' } })).toMatch(/step/);
    expect(parseSpec({ jobId: 'a', step: { op: 'probe' }, input: { kind: 'file', path: '/etc/passwd' } })).toMatch(
      /input/,
    );
  });
});

describe('media limits', () => {
  const info = (duration: number, width: number, height: number) => ({
    probe: { format: {}, streams: [{ index: 0, codec_type: 'video', width, height }] },
    duration,
    hasAudio: false,
    hasVideo: true,
    height,
    still: false,
  });

  it('refuses media that is too long or too large, each with its own code', () => {
    expect(() => checkMediaLimits(info(7200, 1920, 1080), { maxDurationSeconds: 3600 })).toThrow(
      expect.objectContaining({ code: 'media.too_long' }),
    );
    expect(() => checkMediaLimits(info(10, 1080, 7680), { maxVideoSidePx: 4096 })).toThrow(
      expect.objectContaining({ code: 'media.resolution_too_high' }),
    );
    expect(() =>
      checkMediaLimits(info(10, 1920, 1080), { maxDurationSeconds: 60, maxVideoSidePx: 4096 }),
    ).not.toThrow();
    expect(() => checkMediaLimits(info(10, 1920, 1080), undefined)).not.toThrow();
  });
});
