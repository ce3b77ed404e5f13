/**
 * The streaming zip writer (src/lib/zip.ts): archives that Info-ZIP's `unzip -t` accepts (CRC-32 and
 * sizes right), with and without ZIP64 records, contents that come back byte for byte, and a writer
 * that reads its sources only as fast as its reader and stops them when canceled.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { bytesEntry, crc32, crc32Portable, dosDateTime, type ZipEntry, zipStream } from '../../src/lib/zip.ts';

const dir = mkdtempSync(path.join(os.tmpdir(), 'clipyard-zip-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function collect(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

function writeZip(name: string, bytes: Uint8Array): string {
  const file = path.join(dir, name);
  writeFileSync(file, bytes);
  return file;
}

/** A source that yields `chunks` pseudo-random chunks of `chunkSize`, counting how far it was read. */
function chunkedEntry(name: string, chunks: number, chunkSize: number, seed: number) {
  const state = { opened: false, pulled: 0, canceled: false, bytes: new Uint8Array(chunks * chunkSize) };
  let x = seed;
  for (let i = 0; i < state.bytes.length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    state.bytes[i] = x >>> 24;
  }
  const entry: ZipEntry = {
    name,
    modifiedAt: new Date(Date.UTC(2026, 10, 24, 12, 30, 10)),
    open: async () => {
      state.opened = true;
      return {
        size: state.bytes.length,
        stream: new ReadableStream<Uint8Array>(
          {
            pull(controller) {
              if (state.pulled === chunks) return controller.close();
              controller.enqueue(state.bytes.slice(state.pulled * chunkSize, (state.pulled + 1) * chunkSize));
              state.pulled++;
            },
            cancel() {
              state.canceled = true;
            },
          },
          { highWaterMark: 0 },
        ),
      };
    },
  };
  return { entry, state };
}

describe('crc32', () => {
  it('matches the standard check value, in one piece or continued', () => {
    const data = new TextEncoder().encode('123456789');
    expect(crc32(data)).toBe(0xcbf43926);
    expect(crc32(data.subarray(4), crc32(data.subarray(0, 4)))).toBe(0xcbf43926);
    expect(crc32(new Uint8Array(0))).toBe(0);
  });

  it('the portable and the native implementation agree', () => {
    const data = new Uint8Array(100_003).map((_, i) => (i * 31) ^ (i >> 3));
    expect(crc32Portable(data)).toBe(crc32(data));
    expect(crc32Portable(data.subarray(5_000), crc32Portable(data.subarray(0, 5_000)))).toBe(crc32(data));
    expect(crc32Portable(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
  });
});

describe('dosDateTime', () => {
  it('packs a UTC time with two-second resolution, clamping years before 1980', () => {
    expect(dosDateTime(new Date(Date.UTC(2026, 10, 24, 12, 30, 11)))).toEqual({
      time: (12 << 11) | (30 << 5) | 5,
      date: (46 << 9) | (11 << 5) | 24,
    });
    expect(dosDateTime(new Date(0)).date >> 9).toBe(0);
  });
});

describe('zipStream', () => {
  for (const forceZip64 of [false, true]) {
    it(`writes an archive unzip -t accepts, contents intact${forceZip64 ? ' (ZIP64 records)' : ''}`, async () => {
      const a = chunkedEntry('001-first/video.mp4', 40, 16_384, 1);
      const b = chunkedEntry('002-second/audio.mp3', 3, 1_000, 2);
      const entries = [
        a.entry,
        bytesEntry('empty.txt', ''),
        b.entry,
        bytesEntry('003-Résumé ✓/notes.txt', 'hello, zip\n'),
        bytesEntry('manifest.json', JSON.stringify({ ok: true })),
      ];
      const zip = await collect(zipStream(entries, { forceZip64 }));
      const file = writeZip(`t${forceZip64 ? '64' : '32'}.zip`, zip);
      const test = execFileSync('unzip', ['-t', file]).toString();
      expect(test).toContain('No errors detected');
      const list = execFileSync('unzip', ['-Z1', file]).toString().trim().split('\n');
      expect(list).toEqual([
        '001-first/video.mp4',
        'empty.txt',
        '002-second/audio.mp3',
        '003-Résumé ✓/notes.txt',
        'manifest.json',
      ]);
      const first = execFileSync('unzip', ['-p', file, '001-first/video.mp4'], { maxBuffer: 1 << 24 });
      expect(Buffer.compare(first, Buffer.from(a.state.bytes))).toBe(0);
      expect(execFileSync('unzip', ['-p', file, '003-Résumé ✓/notes.txt']).toString()).toBe('hello, zip\n');
      // stored, not deflated: the archive is the files plus headers
      expect(zip.length).toBeGreaterThan(a.state.bytes.length + b.state.bytes.length);
      expect(zip.length).toBeLessThan(a.state.bytes.length + b.state.bytes.length + 2_000);
    });
  }

  it('skips entries whose source is gone, and says so', async () => {
    const skipped: string[] = [];
    const gone: ZipEntry = { name: 'gone.bin', open: async () => null };
    const zip = await collect(
      zipStream([bytesEntry('a.txt', 'a'), gone, bytesEntry('b.txt', 'b')], { onSkip: (n) => skipped.push(n) }),
    );
    const file = writeZip('skip.zip', zip);
    expect(execFileSync('unzip', ['-t', file]).toString()).toContain('No errors detected');
    expect(execFileSync('unzip', ['-Z1', file]).toString().trim().split('\n')).toEqual(['a.txt', 'b.txt']);
    expect(skipped).toEqual(['gone.bin']);
  });

  it('an empty archive is still a valid zip', async () => {
    const zip = await collect(zipStream([]));
    expect(zip.length).toBe(22);
    expect(new DataView(zip.buffer).getUint32(0, true)).toBe(0x06054b50);
  });

  it('reads sources only as the consumer reads, and cancels the current one when the consumer stops', async () => {
    const a = chunkedEntry('a.bin', 100, 65_536, 3);
    const b = chunkedEntry('b.bin', 10, 1_000, 4);
    const reader = zipStream([a.entry, b.entry]).getReader();
    for (let i = 0; i < 5; i++) await reader.read();
    // a header and four chunks were asked for: the 6.5 MB source was not drained into memory
    expect(a.state.pulled).toBeLessThanOrEqual(6);
    expect(b.state.opened).toBe(false);
    await reader.cancel();
    expect(a.state.canceled).toBe(true);
    expect(b.state.opened).toBe(false);
  });

  it('refuses two entries with the same name', async () => {
    await expect(collect(zipStream([bytesEntry('x', '1'), bytesEntry('x', '2')]))).rejects.toThrow(/duplicate/);
  });
});
