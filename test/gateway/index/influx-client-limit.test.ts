/**
 * The client's query limit: at most N `/query` requests in flight, the rest sent in arrival
 * order (those continuing a search first), a failed one freeing its slot, a cancelled one leaving
 * the queue or aborting its request. influxd cannot show how many requests a client keeps
 * open, so a small HTTP server on loopback stands in for it here (a fake on purpose); the
 * queries' results against a real influxd are covered by influx-index.test.ts.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { InfluxV1Client } from '../../../gateway/src/index/influx-client.ts';
import { isGatewayError } from '../../../gateway/src/errors.ts';

interface Held {
  q: string;
  res: ServerResponse;
  /** The client closed the connection before an answer. */
  closed: () => boolean;
}

async function fakeInfluxd(): Promise<{
  url: string;
  held: Held[];
  maxInFlight: () => number;
  waitHeld: (n: number) => Promise<void>;
  close: () => Promise<void>;
}> {
  const held: Held[] = [];
  let inFlight = 0;
  let max = 0;
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      inFlight++;
      max = Math.max(max, inFlight);
      res.on('finish', () => inFlight--);
      let closed = false;
      res.on('close', () => {
        if (!res.writableFinished) closed = true;
      });
      held.push({ q: new URLSearchParams(body).get('q') ?? '', res, closed: () => closed });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    held,
    maxInFlight: () => max,
    waitHeld: async (n) => {
      for (let i = 0; i < 500 && held.length < n; i++) await new Promise((r) => setTimeout(r, 10));
      expect(held.length).toBe(n);
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          resolve();
        });
      }),
  };
}

const answer = (h: Held, status = 200): void => {
  h.res.writeHead(status, { 'content-type': 'application/json' });
  h.res.end(
    status === 200
      ? JSON.stringify({
          results: [{ statement_id: 0, series: [{ name: h.q, columns: ['x'], values: [[1]] }] }],
        })
      : JSON.stringify({ error: 'boom' }),
  );
};

let stop: (() => Promise<void>) | undefined;
afterEach(async () => {
  await stop?.();
  stop = undefined;
});

describe('InfluxV1Client query limit', () => {
  it('keeps at most N queries in flight and sends the rest in arrival order; a failure frees its slot', async () => {
    const f = await fakeInfluxd();
    stop = f.close;
    const client = new InfluxV1Client({ url: f.url, timeoutMs: 10_000, maxConcurrentQueries: 2 });
    const results = Array.from({ length: 6 }, (_, i) =>
      client.query(`q${i}`).then(
        (r) => r[0]?.[0]?.name ?? '',
        (err: unknown) => (isGatewayError(err, 'GATEWAY_ERR_INDEX_UNAVAILABLE') ? 'unavailable' : 'other'),
      ),
    );
    await f.waitHeld(2);
    await new Promise((r) => setTimeout(r, 100));
    expect(f.held.map((h) => h.q)).toEqual(['q0', 'q1']);
    // q1 fails (influxd 500): its slot goes to q2; q0 answers: its slot goes to q3.
    answer(f.held[1] as Held, 500);
    await f.waitHeld(3);
    answer(f.held[0] as Held);
    await f.waitHeld(4);
    expect(f.held.map((h) => h.q)).toEqual(['q0', 'q1', 'q2', 'q3']);
    for (let i = 2; i < 6; i++) {
      answer(f.held[i] as Held);
      if (i + 2 < 6) await f.waitHeld(i + 3);
    }
    expect(await Promise.all(results)).toEqual(['q0', 'unavailable', 'q2', 'q3', 'q4', 'q5']);
    expect(f.maxInFlight()).toBe(2);
  });

  it('without a limit sends every query at once', async () => {
    const f = await fakeInfluxd();
    stop = f.close;
    const client = new InfluxV1Client({ url: f.url, timeoutMs: 10_000 });
    const results = Array.from({ length: 5 }, (_, i) => client.query(`q${i}`));
    await f.waitHeld(5);
    for (const h of f.held) answer(h);
    await Promise.all(results);
    expect(f.maxInFlight()).toBe(5);
  });

  it('sends queries that continue a search before those that start one', async () => {
    const f = await fakeInfluxd();
    stop = f.close;
    const client = new InfluxV1Client({ url: f.url, timeoutMs: 10_000, maxConcurrentQueries: 1 });
    const names = (r: Awaited<ReturnType<InfluxV1Client['query']>>): string => r[0]?.[0]?.name ?? '';
    const results = [
      client.query('a').then(names),
      client.query('new1').then(names),
      client.query('more1', { continuing: true }).then(names),
      client.query('new2').then(names),
      client.query('more2', { continuing: true }).then(names),
    ];
    for (let i = 0; i < 5; i++) {
      await f.waitHeld(i + 1);
      answer(f.held[i] as Held);
    }
    expect(f.held.map((h) => h.q)).toEqual(['a', 'more1', 'more2', 'new1', 'new2']);
    expect(await Promise.all(results)).toEqual(['a', 'new1', 'more1', 'new2', 'more2']);
  });

  it('drops a cancelled query from the queue and aborts a cancelled running one', async () => {
    const f = await fakeInfluxd();
    stop = f.close;
    const client = new InfluxV1Client({ url: f.url, timeoutMs: 10_000, maxConcurrentQueries: 1 });
    const running = new AbortController();
    const queued = new AbortController();
    const outcome = (p: Promise<unknown>): Promise<string> =>
      p.then(
        () => 'ok',
        (err: unknown) => (isGatewayError(err, 'GATEWAY_ERR_UNAVAILABLE') ? 'cancelled' : String(err)),
      );
    const first = outcome(client.query('first', { signal: running.signal }));
    const second = outcome(client.query('second', { signal: queued.signal }));
    const third = outcome(client.query('third'));
    await f.waitHeld(1);
    queued.abort();
    expect(await second).toBe('cancelled');
    running.abort();
    expect(await first).toBe('cancelled');
    // The cancelled request's slot goes to `third`; `second` was never sent.
    await f.waitHeld(2);
    expect(f.held.map((h) => h.q)).toEqual(['first', 'third']);
    for (let i = 0; i < 50 && !(f.held[0] as Held).closed(); i++) await new Promise((r) => setTimeout(r, 10));
    expect((f.held[0] as Held).closed()).toBe(true);
    answer(f.held[1] as Held);
    expect(await third).toBe('ok');
    // Already cancelled: not sent at all.
    expect(await outcome(client.query('late', { signal: AbortSignal.abort() }))).toBe('cancelled');
    await new Promise((r) => setTimeout(r, 50));
    expect(f.held).toHaveLength(2);
  });
});
