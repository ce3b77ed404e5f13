/**
 * A streaming zip writer: stored (uncompressed) entries with data descriptors, so each file's bytes
 * pass straight from its source to the output while its CRC-32 is computed, and nothing but the
 * headers is held in memory. Media files are already compressed; deflating them again would cost CPU
 * for nothing.
 *
 * ZIP64 records are written when an entry, an offset or the central directory needs them (outputs
 * can be gigabytes, and a batch has up to 100 of them); `forceZip64` writes them always, for tests.
 * Names are UTF-8 (general purpose flag bit 11).
 *
 * Pure (web streams and node:zlib's crc32 only, no bindings): the Worker streams a batch archive with
 * it, unit tests check the result with `unzip -t`.
 */
import * as zlib from 'node:zlib';

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 (IEEE 802.3, as zip uses it) in plain JavaScript, for runtimes without node:zlib's. */
export function crc32Portable(data: Uint8Array, crc = 0): number {
  let c = ~crc >>> 0;
  for (let i = 0; i < data.length; i++) c = CRC_TABLE[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

// Native in Node >= 22.2 and in workerd with nodejs_compat: hundreds of times faster than the loop
// above there, which matters when a batch archive streams gigabytes through one Worker invocation.
const nativeCrc32 = (zlib as { crc32?: (data: Uint8Array, value?: number) => number }).crc32;

/** CRC-32 of `data`, continuing from `crc` (0 to start). */
export function crc32(data: Uint8Array, crc = 0): number {
  return nativeCrc32 ? nativeCrc32(data, crc) >>> 0 : crc32Portable(data, crc);
}

export interface ZipSource {
  stream: ReadableStream<Uint8Array>;
  /** the size, when known before reading: decides whether the entry needs ZIP64 sizes */
  size?: number;
  /** when the file was last modified, if the source knows (else the entry's, else now) */
  modifiedAt?: Date;
}

export interface ZipEntry {
  /** path inside the archive, '/'-separated */
  name: string;
  modifiedAt?: Date;
  /** open the entry's bytes when the writer reaches it; null skips the entry (its source is gone) */
  open(): Promise<ZipSource | null>;
}

export interface ZipOptions {
  forceZip64?: boolean;
  /** told about each entry skipped because open() returned null */
  onSkip?(name: string): void;
}

const MAX32 = 0xffffffff;
const MAX16 = 0xffff;
const FLAG_DESCRIPTOR = 0x0008;
const FLAG_UTF8 = 0x0800;
const VERSION_DEFAULT = 20;
const VERSION_ZIP64 = 45;
/** "made by" Unix, so extractors apply the mode in the external attributes */
const MADE_BY_UNIX = 3 << 8;
/** a regular file, rw-r--r-- */
const FILE_MODE = 0o100644;

const encoder = new TextEncoder();

/** A zip entry from bytes already in memory (a small manifest, say). */
export function bytesEntry(name: string, data: Uint8Array | string, modifiedAt?: Date): ZipEntry {
  const bytes = typeof data === 'string' ? encoder.encode(data) : data;
  return {
    name,
    ...(modifiedAt ? { modifiedAt } : {}),
    open: async () => ({
      size: bytes.length,
      stream: new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(bytes);
          controller.close();
        },
      }),
    }),
  };
}

class Bytes {
  readonly buf: Uint8Array;
  private readonly view: DataView;
  private at = 0;

  constructor(size: number) {
    this.buf = new Uint8Array(size);
    this.view = new DataView(this.buf.buffer);
  }

  u16(v: number): this {
    this.view.setUint16(this.at, v, true);
    this.at += 2;
    return this;
  }

  u32(v: number): this {
    this.view.setUint32(this.at, v >>> 0, true);
    this.at += 4;
    return this;
  }

  u64(v: number): this {
    this.view.setBigUint64(this.at, BigInt(v), true);
    this.at += 8;
    return this;
  }

  bytes(b: Uint8Array): this {
    this.buf.set(b, this.at);
    this.at += b.length;
    return this;
  }
}

/** MS-DOS time and date (local time has no zone in zip; UTC is written). Years before 1980 clamp. */
export function dosDateTime(d: Date): { time: number; date: number } {
  const year = Math.min(Math.max(d.getUTCFullYear(), 1980), 2107);
  return {
    time: (d.getUTCHours() << 11) | (d.getUTCMinutes() << 5) | (d.getUTCSeconds() >> 1),
    date: ((year - 1980) << 9) | ((d.getUTCMonth() + 1) << 5) | d.getUTCDate(),
  };
}

interface Written {
  name: Uint8Array;
  time: number;
  date: number;
  crc: number;
  size: number;
  offset: number;
  zip64: boolean;
}

function localHeader(name: Uint8Array, time: number, date: number, zip64: boolean): Uint8Array {
  const extra = zip64 ? 20 : 0;
  const b = new Bytes(30 + name.length + extra)
    .u32(0x04034b50)
    .u16(zip64 ? VERSION_ZIP64 : VERSION_DEFAULT)
    .u16(FLAG_DESCRIPTOR | FLAG_UTF8)
    .u16(0) // stored
    .u16(time)
    .u16(date)
    .u32(0) // crc, sizes: in the data descriptor
    .u32(zip64 ? MAX32 : 0)
    .u32(zip64 ? MAX32 : 0)
    .u16(name.length)
    .u16(extra)
    .bytes(name);
  if (zip64) b.u16(0x0001).u16(16).u64(0).u64(0);
  return b.buf;
}

function dataDescriptor(crc: number, size: number, zip64: boolean): Uint8Array {
  const b = new Bytes(zip64 ? 24 : 16).u32(0x08074b50).u32(crc);
  return (zip64 ? b.u64(size).u64(size) : b.u32(size).u32(size)).buf;
}

function centralHeader(e: Written, force: boolean): Uint8Array {
  const bigSize = force || e.size >= MAX32;
  const bigOffset = force || e.offset >= MAX32;
  const extraLen = bigSize || bigOffset ? 4 + (bigSize ? 16 : 0) + (bigOffset ? 8 : 0) : 0;
  const version = e.zip64 || extraLen > 0 ? VERSION_ZIP64 : VERSION_DEFAULT;
  const b = new Bytes(46 + e.name.length + extraLen)
    .u32(0x02014b50)
    .u16(MADE_BY_UNIX | version)
    .u16(version)
    .u16(FLAG_DESCRIPTOR | FLAG_UTF8)
    .u16(0)
    .u16(e.time)
    .u16(e.date)
    .u32(e.crc)
    .u32(bigSize ? MAX32 : e.size)
    .u32(bigSize ? MAX32 : e.size)
    .u16(e.name.length)
    .u16(extraLen)
    .u16(0) // comment
    .u16(0) // disk
    .u16(0) // internal attributes
    .u32(FILE_MODE << 16)
    .u32(bigOffset ? MAX32 : e.offset)
    .bytes(e.name);
  if (extraLen > 0) {
    b.u16(0x0001).u16(extraLen - 4);
    if (bigSize) b.u64(e.size).u64(e.size);
    if (bigOffset) b.u64(e.offset);
  }
  return b.buf;
}

function endRecords(count: number, cdOffset: number, cdSize: number, force: boolean): Uint8Array {
  const zip64 = force || count >= MAX16 || cdOffset >= MAX32 || cdSize >= MAX32;
  const end = new Bytes(22)
    .u32(0x06054b50)
    .u16(0)
    .u16(0)
    .u16(zip64 ? MAX16 : count)
    .u16(zip64 ? MAX16 : count)
    .u32(zip64 ? MAX32 : cdSize)
    .u32(zip64 ? MAX32 : cdOffset)
    .u16(0).buf;
  if (!zip64) return end;
  const record = new Bytes(56 + 20)
    .u32(0x06064b50)
    .u64(44)
    .u16(MADE_BY_UNIX | VERSION_ZIP64)
    .u16(VERSION_ZIP64)
    .u32(0)
    .u32(0)
    .u64(count)
    .u64(count)
    .u64(cdSize)
    .u64(cdOffset)
    // the locator
    .u32(0x07064b50)
    .u32(0)
    .u64(cdOffset + cdSize)
    .u32(1).buf;
  const out = new Uint8Array(record.length + end.length);
  out.set(record);
  out.set(end, record.length);
  return out;
}

async function* zipChunks(entries: AsyncIterable<ZipEntry> | Iterable<ZipEntry>, opts: ZipOptions) {
  const force = opts.forceZip64 ?? false;
  const written: Written[] = [];
  const names = new Set<string>();
  let offset = 0;
  for await (const entry of entries) {
    const name = entry.name.replace(/^\/+/, '');
    if (names.has(name)) throw new Error(`duplicate zip entry ${name}`);
    const source = await entry.open();
    if (!source) {
      opts.onSkip?.(name);
      continue;
    }
    names.add(name);
    const nameBytes = encoder.encode(name);
    const { time, date } = dosDateTime(source.modifiedAt ?? entry.modifiedAt ?? new Date());
    const zip64 = force || source.size === undefined || source.size >= MAX32;
    const header = localHeader(nameBytes, time, date, zip64);
    const start = offset;
    yield header;
    offset += header.length;
    let crc = 0;
    let size = 0;
    const reader = source.stream.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        crc = crc32(value, crc);
        size += value.length;
        if (!zip64 && size >= MAX32) throw new Error(`zip entry ${name} is larger than it said`);
        yield value;
      }
    } finally {
      await reader.cancel().catch(() => {});
    }
    offset += size;
    const descriptor = dataDescriptor(crc, size, zip64);
    yield descriptor;
    offset += descriptor.length;
    written.push({ name: nameBytes, time, date, crc, size, offset: start, zip64 });
  }
  const cdOffset = offset;
  let cdSize = 0;
  for (const e of written) {
    const h = centralHeader(e, force);
    cdSize += h.length;
    yield h;
  }
  yield endRecords(written.length, cdOffset, cdSize, force);
}

/**
 * The archive as a byte stream, produced as the consumer reads it: each entry is opened only when the
 * writer reaches it, and canceling the stream cancels the entry being read.
 */
export function zipStream(
  entries: AsyncIterable<ZipEntry> | Iterable<ZipEntry>,
  opts: ZipOptions = {},
): ReadableStream<Uint8Array> {
  const chunks = zipChunks(entries, opts);
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const next = await chunks.next();
        if (next.done) controller.close();
        else controller.enqueue(next.value);
      },
      async cancel() {
        await chunks.return(undefined);
      },
    },
    { highWaterMark: 0 },
  );
}
