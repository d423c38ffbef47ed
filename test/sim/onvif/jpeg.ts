/** The built-in snapshot: a valid 16×16 baseline JPEG, tagged per camera with a COM segment. */

/** A 16×16 blue-grey JPEG made by `ffmpeg -f lavfi -i color=c=0x336699:s=16x16 -frames:v 1 -q:v 20`. */
const BASE_JPEG = Buffer.from(
  '/9j/4AAQSkZJRgABAgAAAQABAAD//gAQTGF2YzU5LjM3LjEwMAD/2wBDAAgoKC8oLzc3Nzc3N0E8QUNDQ0FBQUFDQ0NISEhVVVVISEhDQ0hIUFBVVVxfXFdXVVdfX2RkZHh4c3OMjJGsrM//xABMAAEBAAAAAAAAAAAAAAAAAAAABgEBAQAAAAAAAAAAAAAAAAAABQYQAQAAAAAAAAAAAAAAAAAAAAARAQAAAAAAAAAAAAAAAAAAAAD/wAARCAAQABADASIAAhEAAxEA/9oADAMBAAIRAxEAPwCbAUQF/9k=',
  'base64',
);

/** Byte offset just after the JFIF APP0 segment (SOI 2 + marker 2 + length 16). */
const AFTER_APP0 = 20;
/** Byte offset just after the encoder's own COM segment, which is replaced. */
const AFTER_COM = 38;

/** The built-in JPEG with `comment` (ASCII, ≤ 200 chars) in a COM segment after APP0. */
export function defaultSnapshotJpeg(comment: string): Buffer {
  const text = Buffer.from(comment.replace(/[^\x20-\x7e]/g, '?').slice(0, 200), 'latin1');
  const com = Buffer.alloc(4 + text.length);
  com.writeUInt16BE(0xfffe, 0);
  com.writeUInt16BE(text.length + 2, 2);
  text.copy(com, 4);
  return Buffer.concat([BASE_JPEG.subarray(0, AFTER_APP0), com, BASE_JPEG.subarray(AFTER_COM)]);
}

/** Whether `buf` starts with SOI and ends with EOI (a cheap "this is a JPEG" check). */
export function looksLikeJpeg(buf: Buffer): boolean {
  return buf.length > 4 && buf[0] === 0xff && buf[1] === 0xd8 && buf.at(-2) === 0xff && buf.at(-1) === 0xd9;
}
