/**
 * The hls op's plan and ffmpeg arguments (containers/ffmpeg/src/hls-args.ts), pure: renditions never
 * above the source, one split filter graph, the same keyframe grid for every rendition.
 */
import { describe, expect, it } from 'vitest';
import { gopFrames, hlsArgs, planRenditions } from '../../containers/ffmpeg/src/hls-args.ts';
import { stepSchema } from '../../src/protocol/ops.ts';

const step = (extra: Record<string, unknown> = {}) => {
  const s = stepSchema.parse({ op: 'hls', ...extra });
  if (s.op !== 'hls') throw new Error('not hls');
  return s;
};

describe('hls plan', () => {
  it('keeps the asked renditions at or below the source, highest first', () => {
    expect(planRenditions(undefined, 720)).toEqual([720, 480, 360]);
    expect(planRenditions([360, 1080, 720], 1080)).toEqual([1080, 720, 360]);
    expect(planRenditions([1080, 720, 480], 600)).toEqual([480]);
    expect(planRenditions(undefined, 2160)).toEqual([1080, 720, 480, 360]);
  });

  it('a source below every rendition gets one at its own (even) height', () => {
    expect(planRenditions([720, 480], 241)).toEqual([240]);
  });

  it('the schema: defaults, limits, and no duplicate or unknown renditions', () => {
    expect(step()).toMatchObject({ segmentSeconds: 6, codec: 'h264', quality: 'medium' });
    expect(stepSchema.safeParse({ op: 'hls', segmentSeconds: 1 }).success).toBe(false);
    expect(stepSchema.safeParse({ op: 'hls', segmentSeconds: 11 }).success).toBe(false);
    expect(stepSchema.safeParse({ op: 'hls', renditions: [720, 720] }).success).toBe(false);
    expect(stepSchema.safeParse({ op: 'hls', renditions: [540] }).success).toBe(false);
    expect(stepSchema.safeParse({ op: 'hls', codec: 'vp9' }).success).toBe(false);
  });
});

describe('hls ffmpeg arguments', () => {
  it('one input, a split into each scaled rendition, keyframes on the segment grid in all of them', () => {
    const args = hlsArgs(step({ segmentSeconds: 4 }), '/in.mp4', '/job', {
      heights: [720, 360],
      hasAudio: true,
      fps: 30,
    });
    expect(args.filter((a) => a === '-i')).toHaveLength(1);
    const graph = args[args.indexOf('-filter_complex') + 1];
    expect(graph).toBe('[0:v:0]split=2[s0][s1];[s0]scale=-2:720[v0];[s1]scale=-2:360[v1]');
    expect(args[args.indexOf('-force_key_frames') + 1]).toBe('expr:gte(t,n_forced*4)');
    expect(args[args.indexOf('-sc_threshold') + 1]).toBe('0');
    expect(args[args.indexOf('-g') + 1]).toBe('120');
    expect(args[args.indexOf('-var_stream_map') + 1]).toBe('v:0,a:0,name:720p v:1,a:1,name:360p');
    expect(args.filter((a) => a === '0:a:0')).toHaveLength(2);
    expect(args[args.indexOf('-hls_flags') + 1]).toContain('single_file');
    expect(args.at(-1)).toBe('/job/hls-%v.m3u8');
  });

  it('no audio, one rendition, unknown frame rate', () => {
    const args = hlsArgs(step(), '/in.mp4', '/job', { heights: [480], hasAudio: false, fps: null });
    expect(args[args.indexOf('-filter_complex') + 1]).toBe('[0:v:0]scale=-2:480[v0]');
    expect(args).not.toContain('-c:a');
    expect(args).not.toContain('-g');
    expect(args[args.indexOf('-var_stream_map') + 1]).toBe('v:0,name:480p');
    expect(gopFrames(6, 29.97)).toBe(180);
  });
});
