/**
 * Media the end-to-end and chaos suites make with the machine's ffmpeg before they start: a moving
 * test pattern with a 440 Hz tone, H.264 + AAC in mp4, at the size and length a test needs.
 */
import { execFileSync } from 'node:child_process';

/** Run ffmpeg quietly, overwriting its output. */
export function ffmpeg(args: string[]): void {
  execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', ...args]);
}

export function makeTestClip(file: string, size: string, seconds: number): void {
  ffmpeg([
    ...['-f', 'lavfi', '-i', `testsrc=size=${size}:rate=30`],
    ...['-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=44100'],
    ...['-t', String(seconds), '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p'],
    ...['-c:a', 'aac', '-shortest', file],
  ]);
}
