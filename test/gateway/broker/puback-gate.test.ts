/**
 * The PUBACK gate over a real loopback TCP connection: PUBACKs (even split across writes) wait
 * for their release, everything after them waits too (order kept), a release for a PUBACK that
 * is not queued is ignored, and inbound bytes pass straight through.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { PubackGate } from '../../../gateway/src/broker/puback-gate.ts';
import { waitFor } from '../../bench/wait.ts';

const cleanups: Array<() => unknown> = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

async function pair(): Promise<{ gate: PubackGate; peer: Socket; received: () => Buffer }> {
  let gate: PubackGate | undefined;
  const server: Server = createServer((socket) => {
    gate = new PubackGate(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  if (addr === null || typeof addr === 'string') throw new Error('no address');
  const peer = connect(addr.port, '127.0.0.1');
  const chunks: Buffer[] = [];
  peer.on('data', (c: Buffer) => chunks.push(c));
  await waitFor(() => gate, { what: 'connection' });
  cleanups.push(() => {
    peer.destroy();
    gate?.destroy();
    server.close();
  });
  return { gate: gate as PubackGate, peer, received: () => Buffer.concat(chunks) };
}

const CONNACK = Buffer.from([0x20, 0x02, 0x00, 0x00]);
const puback = (id: number): Buffer => Buffer.from([0x40, 0x02, id >> 8, id & 0xff]);
const publish = Buffer.concat([Buffer.from([0x30, 0x07, 0x00, 0x01]), Buffer.from('t'), Buffer.from('body')]);

const write = (gate: PubackGate, b: Buffer): Promise<void> =>
  new Promise((resolve, reject) => {
    gate.write(b, (err) => {
      if (err) reject(err);
      else resolve();
    });
  });

async function settle(): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 100));
}

describe('PubackGate', () => {
  it('holds each PUBACK, and what follows it, until released', async () => {
    const { gate, received } = await pair();
    await write(gate, CONNACK);
    // A PUBACK split over three writes, then a PUBLISH, then another PUBACK with a PUBLISH in the same chunk.
    const p5 = puback(0x0105);
    await write(gate, p5.subarray(0, 1));
    await write(gate, p5.subarray(1, 3));
    await write(gate, p5.subarray(3));
    await write(gate, Buffer.concat([publish, puback(6), publish]));
    await settle();
    expect(received()).toEqual(CONNACK);
    expect(gate.held).toBe(2);

    gate.release(6); // not at the head: recorded, nothing moves yet
    gate.release(99); // no such PUBACK queued: ignored
    await settle();
    expect(received()).toEqual(CONNACK);

    gate.release(0x0105);
    await waitFor(
      () => (received().length === CONNACK.length + 4 + publish.length * 2 + 4 ? true : undefined),
      {
        what: 'everything after both releases',
      },
    );
    expect(received()).toEqual(Buffer.concat([CONNACK, p5, publish, puback(6), publish]));
    expect(gate.held).toBe(0);
  });

  it('does not let a release given before its PUBACK free a later one with the same id', async () => {
    const { gate, received } = await pair();
    gate.release(7);
    await write(gate, puback(7));
    await settle();
    expect(received().length).toBe(0);
    gate.release(7);
    await waitFor(() => (received().length === 4 ? true : undefined), { what: 'PUBACK 7' });
  });

  it('passes inbound bytes through, and outbound bytes unframed once switched to pass-through', async () => {
    const { gate, peer, received } = await pair();
    const inbound: Buffer[] = [];
    gate.on('data', (c: Buffer) => inbound.push(c));
    peer.write('hello');
    await waitFor(() => (Buffer.concat(inbound).toString() === 'hello' ? true : undefined), {
      what: 'inbound',
    });
    expect(gate.passThrough()).toBe(true);
    await write(gate, puback(9));
    await waitFor(() => (received().length === 4 ? true : undefined), { what: 'unheld PUBACK' });
  });
});
