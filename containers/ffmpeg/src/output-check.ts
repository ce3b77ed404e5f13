/**
 * The check every media output passes before a job may succeed: what the op promised (the streams,
 * the frame size, how long it lasts) against what the file turned out to be (its ffprobe, a decode of
 * its first packets and of its last second). Pure: verify-output.ts gathers the facts, this decides.
 *
 * A failed check is a non-retryable `media.*` error whose message says what is wrong with the result
 * in a user's terms ("the input has no decodable video frames"), never a success, never a crash.
 *
 * Duration tolerance: the result may differ from what was asked by DURATION_TOLERANCE_S or
 * DURATION_TOLERANCE_SHARE of it, whichever is larger (a stream copy may start on the keyframe before
 * the cut, so clip by copy widens `over`).
 */
import type { Probe } from './media.ts';
import { type Classified, classifyToolFailure } from './tool-errors.ts';

export const DURATION_TOLERANCE_S = 0.5;
export const DURATION_TOLERANCE_SHARE = 0.05;

/** What an op promises about one output file. */
export interface OutputExpectation {
  /** 'image': one decodable picture (thumbnail, contact sheet); 'media': audio and/or video that plays. */
  kind: 'media' | 'image';
  /** Must hold an audio stream with decodable audio. */
  audio: boolean;
  /** Must hold a video stream (cover art does not count) with decodable frames. */
  video: boolean;
  width?: number;
  height?: number;
  /** How long the result should last (seconds); null: only "more than zero"; absent: not checked. */
  seconds?: number | null;
  /** Allowed difference from `seconds`; default the tolerance above, both ways. */
  tolerance?: { under: number; over: number };
}

/** One decode run over part of the output (ffmpeg to the null muxer, with `-progress`). */
export interface DecodeFacts {
  exitOk: boolean;
  /** Video frames decoded. */
  frames: number;
  /** The furthest timestamp decoded, seconds (audio counts here too). */
  seconds: number;
  stderr: string;
}

export interface OutputFacts {
  size: number;
  /** ffprobe of the output; null when ffprobe could not read it. */
  probe: Probe | null;
  probeStderr?: string;
  /** What the producing ffmpeg run itself said it wrote (its last `-progress` block), when known. */
  produced?: { frames: number; seconds: number };
  /**
   * The output is a stream copy: its packets are the input's, so the header must agree with the
   * produced time (an encoder's delay makes `out_time` lag, so this is only asked of a copy).
   */
  copied?: boolean;
}

export type CheckResult = { ok: true } | ({ ok: false } & Classified);

const fail = (code: Classified['code'], message: string): CheckResult => ({
  ok: false,
  code,
  message,
  retryable: false,
});

/** The tolerance for a result expected to last `seconds`. */
export function toleranceFor(seconds: number): number {
  return Math.max(DURATION_TOLERANCE_S, DURATION_TOLERANCE_SHARE * seconds);
}

function noFrames(expect: OutputExpectation): CheckResult {
  if (expect.kind === 'image' || expect.video)
    return fail('media.no_frames', 'the input has no decodable video frames');
  if (expect.audio) return fail('media.no_frames', 'the input has no decodable audio');
  return fail('media.no_frames', 'the input has no decodable audio or video');
}

/** The declared duration: the container's, else the longest stream's; null when none is given. */
export function declaredSeconds(probe: Probe): number | null {
  const values = [probe.format.duration, ...probe.streams.map((s) => s.duration)]
    .map((d) => Number(d))
    .filter((d) => Number.isFinite(d) && d > 0);
  if (values.length === 0) return null;
  const container = Number(probe.format.duration);
  return Number.isFinite(container) && container > 0 ? container : Math.max(...values);
}

/** First half of the check: the file's structure (before the output is announced). */
export function checkStructure(facts: OutputFacts, expect: OutputExpectation): CheckResult {
  if (facts.size === 0) return noFrames(expect);
  const produced = facts.produced;
  if (produced && (expect.video || expect.kind === 'image') && produced.frames === 0) return noFrames(expect);
  if (produced && produced.frames === 0 && produced.seconds === 0) return noFrames(expect);
  if (!facts.probe) {
    const why = classifyToolFailure('ffprobe', facts.probeStderr ?? '', null);
    return fail('media.output_invalid', `the result could not be read back, so it was not kept (${why.message})`);
  }
  const streams = facts.probe.streams;
  const video = streams.find(
    (s) => s.codec_type === 'video' && (expect.kind === 'image' || !s.disposition?.attached_pic),
  );
  const audio = streams.find((s) => s.codec_type === 'audio');
  if (!video && !audio) return noFrames(expect);
  if ((expect.video || expect.kind === 'image') && !video) return noFrames(expect);
  if (expect.audio && !audio) return noFrames({ ...expect, video: false });
  if (video && expect.height !== undefined && video.height !== expect.height) {
    return fail(
      'media.output_invalid',
      `the video came out ${video.width}x${video.height}, not ${expect.height} px high`,
    );
  }
  if (video && expect.width !== undefined && video.width !== expect.width) {
    return fail(
      'media.output_invalid',
      `the picture came out ${video.width}x${video.height}, not ${expect.width} px wide`,
    );
  }
  if (expect.kind === 'image' || expect.seconds === undefined) return { ok: true };
  const declared = declaredSeconds(facts.probe);
  if (declared === null) return noFrames(expect);
  if (
    facts.copied &&
    produced &&
    produced.seconds > 0 &&
    declared - produced.seconds > toleranceFor(produced.seconds)
  ) {
    return fail(
      'media.output_invalid',
      `the result's header says ${declared.toFixed(2)} s but it holds ${produced.seconds.toFixed(2)} s of media`,
    );
  }
  if (expect.seconds === null) return { ok: true };
  const tol = expect.tolerance ?? { under: toleranceFor(expect.seconds), over: toleranceFor(expect.seconds) };
  if (declared < expect.seconds - tol.under) {
    return fail(
      'media.truncated',
      `the result lasts ${declared.toFixed(2)} s of the ${expect.seconds.toFixed(2)} s expected: the input ends early or is damaged`,
    );
  }
  if (declared > expect.seconds + tol.over) {
    return fail(
      'media.output_invalid',
      `the result says it lasts ${declared.toFixed(2)} s, but ${expect.seconds.toFixed(2)} s was asked`,
    );
  }
  return { ok: true };
}

/** Second half: the first packets and the last second decode (run while the output is stored). */
export function checkDecode(head: DecodeFacts, tail: DecodeFacts | null, expect: OutputExpectation): CheckResult {
  const decoded = (d: DecodeFacts) =>
    expect.video || expect.kind === 'image' ? d.frames > 0 : d.frames > 0 || d.seconds > 0;
  if (!head.exitOk) {
    const why = classifyToolFailure('ffmpeg', head.stderr, null);
    return why.code === 'runner.crashed'
      ? { ok: false, ...why }
      : fail(why.code, `the result does not play: ${why.message}`);
  }
  if (!decoded(head)) return noFrames(expect);
  if (!tail) return { ok: true };
  if (!tail.exitOk || !decoded(tail)) {
    const why = classifyToolFailure('ffmpeg', tail.stderr, null);
    if (why.code === 'runner.crashed') return { ok: false, ...why };
    return fail('media.truncated', 'the end of the result does not decode: the input is cut short or damaged');
  }
  return { ok: true };
}
