/**
 * The media corpus the output-check matrix runs every op against, generated on the spot with ffmpeg
 * and espeak-ng (nothing downloaded, every file a few KB): degenerate-but-valid media a user or a
 * public downloader meets (one frame, one packet, 8x8 pixels, stills, an empty wav, rotation, six
 * channels, 8 kHz speech, hours of low-bitrate audio) and files that are not media at all.
 *
 * Used by test/runner/output-matrix.test.ts and test/e2e/media-errors.test.ts.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { ff } from './harness.ts';

export interface CorpusFile {
  name: string;
  /**
   * 'valid': success or a `media.*` code; 'damaged': the same, but an op that touches the damage must
   * fail (a thumbnail from the intact start may succeed); 'not-media': every op ends in a `media.*` code.
   */
  kind: 'valid' | 'damaged' | 'not-media';
  what: string;
}

const lavfi = (spec: string) => ['-f', 'lavfi', '-i', spec];

/** Write the corpus (or only the files named) into `dir`; returns what was written, in a stable order. */
export function makeCorpus(dir: string, only?: readonly string[]): CorpusFile[] {
  const at = (name: string) => path.join(dir, name);
  const files: CorpusFile[] = [];
  const add = (name: string, kind: CorpusFile['kind'] | boolean, what: string, make: (file: string) => void) => {
    // av.mp4 is what the truncated files are cut from
    if (only && !only.includes(name) && name !== 'av.mp4') return;
    make(at(name));
    files.push({ name, kind: kind === true ? 'valid' : kind === false ? 'not-media' : kind, what });
  };

  // valid, ordinary-ish
  add('av.mp4', true, '3 s 160x120 H.264 + AAC, keyframe each second', (f) =>
    ff([
      ...lavfi('testsrc=size=160x120:rate=15'),
      ...lavfi('sine=frequency=440'),
      '-t',
      '3',
      '-c:v',
      'libx264',
      '-preset',
      'ultrafast',
      '-g',
      '15',
      '-pix_fmt',
      'yuv420p',
      '-c:a',
      'aac',
      '-shortest',
      f,
    ]),
  );
  add('silent-video.webm', true, '2 s VP8, no audio track', (f) =>
    ff([...lavfi('testsrc=size=96x64:rate=10'), '-t', '2', '-c:v', 'libvpx', '-b:v', '100k', f]),
  );
  add('audio-only.webm', true, '2 s Opus in WebM', (f) =>
    ff([...lavfi('sine=frequency=300'), '-t', '2', '-c:a', 'libopus', '-b:a', '24k', f]),
  );
  add('cover.mp3', true, '2 s mp3 with cover art', (f) => {
    ff([...lavfi('color=c=orange:size=64x64'), '-frames:v', '1', `${f}.png`]);
    ff([
      ...lavfi('sine=frequency=500'),
      '-i',
      `${f}.png`,
      '-t',
      '2',
      '-map',
      '0:a',
      '-map',
      '1:v',
      '-c:a',
      'libmp3lame',
      '-b:a',
      '32k',
      '-c:v',
      'png',
      '-disposition:v',
      'attached_pic',
      f,
    ]);
  });
  // degenerate but valid
  add('one-frame.webm', true, 'a single VP8 frame', (f) =>
    ff([...lavfi('testsrc=size=64x48:rate=1'), '-frames:v', '1', '-c:v', 'libvpx', f]),
  );
  add('8x8.mp4', true, '1 s of 8x8 pixels', (f) =>
    ff([
      ...lavfi('testsrc=size=8x8:rate=10'),
      '-t',
      '1',
      '-c:v',
      'libx264',
      '-preset',
      'ultrafast',
      '-pix_fmt',
      'yuv420p',
      f,
    ]),
  );
  add('still.png', true, 'a still image', (f) => ff([...lavfi('testsrc=size=120x90'), '-frames:v', '1', f]));
  add('still.jpg', true, 'a still jpeg', (f) => ff([...lavfi('testsrc=size=120x90'), '-frames:v', '1', f]));
  add('anim.gif', true, 'a 10-frame animated gif', (f) => ff([...lavfi('testsrc=size=64x48:rate=5'), '-t', '2', f]));
  add('tiny.wmv', true, '1 s WMV2 + WMA2 in ASF', (f) =>
    ff([
      ...lavfi('testsrc=size=64x48:rate=10'),
      ...lavfi('sine=frequency=440'),
      '-t',
      '1',
      '-c:v',
      'wmv2',
      '-c:a',
      'wmav2',
      '-shortest',
      f,
    ]),
  );
  add('rotated.mp4', true, '1 s 64x32 with a 90-degree display matrix', (f) =>
    ff([
      ...lavfi('testsrc=size=64x32:rate=10'),
      '-t',
      '1',
      '-c:v',
      'libx264',
      '-preset',
      'ultrafast',
      '-pix_fmt',
      'yuv420p',
      '-metadata:s:v:0',
      'rotate=90',
      f,
    ]),
  );
  add('empty-data.wav', true, 'a wav whose data chunk is empty', (f) =>
    ff([...lavfi('anullsrc=r=8000:cl=mono'), '-frames:a', '0', '-c:a', 'pcm_s16le', f]),
  );
  add('one-packet.mp3', true, 'a single mp3 frame', (f) =>
    ff([...lavfi('sine=frequency=440:sample_rate=44100'), '-t', '0.02', '-c:a', 'libmp3lame', f]),
  );
  add('6ch.flac', true, '3 s of 5.1 flac', (f) =>
    ff([...lavfi('sine=frequency=220:sample_rate=22050'), '-t', '3', '-ac', '6', '-c:a', 'flac', f]),
  );
  add('speech-8k.wav', true, 'espeak-ng speech at 8 kHz mono', (f) => {
    execFileSync('espeak-ng', ['-v', 'en-us', '-s', '160', '-w', `${f}.raw.wav`, 'Hello there. This is a test.']);
    ff(['-i', `${f}.raw.wav`, '-ar', '8000', '-ac', '1', f]);
  });
  add('hours.mp3', true, '2 h of 8 kbps mono mp3 (one minute repeated)', (f) => {
    ff([
      ...lavfi('sine=frequency=200:sample_rate=8000'),
      '-t',
      '60',
      '-c:a',
      'libmp3lame',
      '-b:a',
      '8k',
      '-f',
      'mp3',
      `${f}.1m`,
    ]);
    const minute = readFileSync(`${f}.1m`);
    writeFileSync(f, Buffer.concat(Array.from({ length: 120 }, () => minute)));
  });
  add('subtitles-only.mkv', true, 'a Matroska file whose one stream is subtitles', (f) => {
    writeFileSync(`${f}.srt`, '1\n00:00:00,000 --> 00:00:01,000\nhello\n');
    ff(['-i', `${f}.srt`, '-c:s', 'srt', f]);
  });
  // broken or not media at all
  add('truncated.mp4', 'damaged', 'the first third of an mp4 whose index is at the end', (f) => {
    const whole = readFileSync(at('av.mp4'));
    writeFileSync(f, whole.subarray(0, Math.floor(whole.length / 3)));
  });
  add('truncated-faststart.mp4', 'damaged', 'an mp4 with its index first, cut after 40% of its bytes', (f) => {
    ff(['-i', at('av.mp4'), '-c', 'copy', '-movflags', '+faststart', `${f}.whole.mp4`]);
    const whole = readFileSync(`${f}.whole.mp4`);
    writeFileSync(f, whole.subarray(0, Math.floor(whole.length * 0.4)));
  });
  add('random.bin', false, '4 KB of random bytes', (f) => {
    let x = 12345;
    writeFileSync(
      f,
      Buffer.from(
        Array.from({ length: 4096 }, () => {
          x = (x * 1103515245 + 12345) & 0x7fffffff;
          return x >> 16;
        }),
      ),
    );
  });
  add('document.pdf', false, 'a one-page PDF', (f) =>
    writeFileSync(
      f,
      '%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n' +
        '3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n',
    ),
  );
  add('program.elf', false, 'an executable', (f) => copyFileSync('/bin/true', f));
  add('archive.gz', false, 'a gzip archive', (f) => writeFileSync(f, gzipSync(Buffer.from('hello '.repeat(500)))));
  add('page.html', false, 'an html page', (f) =>
    writeFileSync(f, '<!doctype html><html><body><video src="x.mp4"></video></body></html>\n'),
  );
  return files;
}
