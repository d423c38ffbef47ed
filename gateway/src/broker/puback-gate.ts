/**
 * A stream between one client socket and Aedes that holds each PUBACK Aedes sends until the
 * message it acknowledges has been persisted.
 *
 * Why: Aedes 1.2 answers a QoS1 PUBLISH by writing the PUBACK first and only then storing the
 * message in the queues of the persistent sessions that subscribe to it
 * (lib/handlers/publish.js `enqueuePublish`, then aedes.js `enqueueOffline`). An edge removes an
 * event from its spool on that PUBACK, so a gateway killed in between would lose the event. Aedes
 * calls its `published` hook once those queues are written; the broker adapter then calls
 * {@link PubackGate.release} with the message id, and the PUBACK goes out.
 *
 * Everything Aedes writes is framed (fixed header + remaining length) to find PUBACKs; bytes
 * after a held PUBACK wait behind it, so the order on the wire never changes. Inbound bytes pass
 * straight through. A trusted connection (the gateway's own client, which publishes nothing that
 * needs this) is switched to plain pass-through with {@link PubackGate.passThrough}.
 */
import { Duplex } from 'node:stream';
import type { Socket } from 'node:net';

const PUBACK_TYPE = 4;

interface HeldAck {
  readonly id: number;
  readonly bytes: Buffer;
}

type Op = Buffer | HeldAck;

const enum State {
  Type,
  Length,
  Body,
}

/** The stream Aedes reads and writes for one client. */
export class PubackGate extends Duplex {
  readonly socket: Socket;
  #pass = false;
  // Outbound framing state.
  #state = State.Type;
  #length = 0;
  #multiplier = 1;
  #bodyLeft = 0;
  /** Bytes of the PUBACK being framed, or undefined when the packet is not a PUBACK. */
  #puback: number[] | undefined;
  /** Output waiting behind a held PUBACK, in order. */
  #ops: Op[] = [];
  #head = 0;
  /** Message id → releases received for PUBACKs still queued. */
  #credits = new Map<number, number>();
  /** Message id → PUBACKs with that id in the queue. */
  #queued = new Map<number, number>();

  constructor(socket: Socket) {
    super({ allowHalfOpen: false });
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      if (!this.push(chunk)) socket.pause();
    });
    socket.once('end', () => this.push(null));
    socket.on('error', (err) => this.destroy(err));
    socket.once('close', () => {
      if (!this.destroyed) this.destroy();
    });
  }

  /** How many PUBACKs are being held. */
  get held(): number {
    let n = 0;
    for (const c of this.#queued.values()) n += c;
    return n;
  }

  /** Stop framing: everything written goes straight to the socket (only at a packet boundary). */
  passThrough(): boolean {
    if (this.#state === State.Type && this.#ops.length === this.#head) this.#pass = true;
    return this.#pass;
  }

  /** The message with id `messageId` is persisted: its PUBACK may go. */
  release(messageId: number): void {
    const queued = this.#queued.get(messageId) ?? 0;
    const credits = this.#credits.get(messageId) ?? 0;
    // A release without a queued PUBACK would wrongly free a later message with the same id.
    if (credits >= queued) return;
    this.#credits.set(messageId, credits + 1);
    this.#flush();
  }

  override _read(): void {
    this.socket.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.socket.destroyed) {
      callback(new Error('socket closed'));
      return;
    }
    if (this.#pass) {
      this.#send(chunk, callback);
      return;
    }
    this.#frame(chunk);
    this.#flush(callback);
  }

  /** Chunks buffered while Aedes corked the stream (mqtt-packet does, per packet): one pass. */
  override _writev(
    chunks: { chunk: Buffer; encoding: BufferEncoding }[],
    callback: (error?: Error | null) => void,
  ): void {
    const buf =
      chunks.length === 1
        ? (chunks[0] as { chunk: Buffer }).chunk
        : Buffer.concat(chunks.map((c) => c.chunk));
    this._write(buf, 'binary', callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.socket.end();
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#ops = [];
    this.#head = 0;
    this.socket.destroy();
    callback(error);
  }

  #send(buf: Buffer, callback?: (error?: Error | null) => void): void {
    const ok = this.socket.write(buf);
    if (callback === undefined) return;
    if (ok) callback();
    else
      this.socket.once('drain', () => {
        callback();
      });
  }

  /** Split `chunk` into pass-through slices and whole PUBACKs, appended to the queue. */
  #frame(chunk: Buffer): void {
    let i = 0;
    let sliceStart = this.#puback === undefined ? 0 : -1;
    const n = chunk.length;
    const endSlice = (end: number): void => {
      if (sliceStart >= 0 && end > sliceStart) this.#ops.push(chunk.subarray(sliceStart, end));
    };
    while (i < n) {
      const byte = chunk[i] as number;
      if (this.#state === State.Type) {
        if (byte >> 4 === PUBACK_TYPE) {
          endSlice(i);
          sliceStart = -1;
          this.#puback = [byte];
        }
        this.#state = State.Length;
        this.#length = 0;
        this.#multiplier = 1;
        i += 1;
      } else if (this.#state === State.Length) {
        this.#puback?.push(byte);
        this.#length += (byte & 0x7f) * this.#multiplier;
        this.#multiplier *= 128;
        i += 1;
        if ((byte & 0x80) === 0) {
          if (this.#length === 0) sliceStart = this.#endPacket(i, sliceStart);
          else {
            this.#state = State.Body;
            this.#bodyLeft = this.#length;
          }
        }
      } else {
        const take = Math.min(this.#bodyLeft, n - i);
        if (this.#puback !== undefined)
          for (let k = i; k < i + take; k++) this.#puback.push(chunk[k] as number);
        i += take;
        this.#bodyLeft -= take;
        if (this.#bodyLeft === 0) sliceStart = this.#endPacket(i, sliceStart);
      }
    }
    endSlice(n);
  }

  /** A packet ended at `i`; returns where the next pass-through slice starts. */
  #endPacket(i: number, sliceStart: number): number {
    this.#state = State.Type;
    const bytes = this.#puback;
    if (bytes === undefined) return sliceStart;
    this.#puback = undefined;
    // Remaining length ≥ 2 in a valid PUBACK: the message id is the first two body bytes.
    const headerLength = bytes.length - this.#length;
    const id = ((bytes[headerLength] ?? 0) << 8) | (bytes[headerLength + 1] ?? 0);
    this.#ops.push({ id, bytes: Buffer.from(bytes) });
    this.#queued.set(id, (this.#queued.get(id) ?? 0) + 1);
    return i;
  }

  /** Write what is not held; `callback` once the socket accepted it (or at once when held). */
  #flush(callback?: (error?: Error | null) => void): void {
    const out: Buffer[] = [];
    while (this.#head < this.#ops.length) {
      const op = this.#ops[this.#head] as Op;
      if (!Buffer.isBuffer(op)) {
        const credit = this.#credits.get(op.id) ?? 0;
        if (credit === 0) break;
        decrement(this.#credits, op.id);
        decrement(this.#queued, op.id);
        out.push(op.bytes);
      } else {
        out.push(op);
      }
      this.#head += 1;
    }
    if (this.#head === this.#ops.length) {
      this.#ops = [];
      this.#head = 0;
    } else if (this.#head > 1024) {
      this.#ops = this.#ops.slice(this.#head);
      this.#head = 0;
    }
    if (out.length === 0) {
      callback?.();
      return;
    }
    this.#send(out.length === 1 ? (out[0] as Buffer) : Buffer.concat(out), callback);
  }
}

function decrement(map: Map<number, number>, key: number): void {
  const v = (map.get(key) ?? 0) - 1;
  if (v <= 0) map.delete(key);
  else map.set(key, v);
}
