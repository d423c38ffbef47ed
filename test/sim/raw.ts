/**
 * Raw loopback clients for tests that need to see exactly what goes over the wire: SOAP POSTs
 * with hand-built envelopes, and a UDP socket that sends probes and collects datagrams.
 */
import { randomUUID } from 'node:crypto';
import dgram from 'node:dgram';
import http from 'node:http';

import { waitFor } from '../bench/wait.ts';

/** A complete HTTP response. */
export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  elapsedMs: number;
}

/** POST `body` to `url` (loopback only); rejects on network error or after `timeoutMs`. */
export async function httpRequest(
  url: string,
  opts: { method?: string; body?: string; headers?: Record<string, string>; timeoutMs?: number } = {},
): Promise<RawResponse> {
  const started = Date.now();
  const u = new URL(url);
  if (!u.hostname.startsWith('127.')) throw new Error(`raw client: ${u.hostname} is not loopback`);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: u.hostname,
        port: u.port,
        path: `${u.pathname}${u.search}`,
        method: opts.method ?? 'POST',
        agent: false,
        headers: {
          ...(opts.body !== undefined
            ? {
                'Content-Type': 'application/soap+xml; charset=utf-8',
                'Content-Length': String(Buffer.byteLength(opts.body)),
              }
            : {}),
          ...opts.headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
            elapsedMs: Date.now() - started,
          });
        });
        res.on('error', reject);
      },
    );
    req.setTimeout(opts.timeoutMs ?? 10_000, () => {
      req.destroy(new Error(`no response within ${opts.timeoutMs ?? 10_000} ms`));
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** A SOAP 1.2 request envelope around `body`, with an optional security header block. */
export function soapRequest(body: string, security = ''): string {
  return (
    `<?xml version="1.0" encoding="UTF-8"?>` +
    `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" ` +
    `xmlns:tds="http://www.onvif.org/ver10/device/wsdl" xmlns:trt="http://www.onvif.org/ver10/media/wsdl" ` +
    `xmlns:tt="http://www.onvif.org/ver10/schema">` +
    `<s:Header>${security}</s:Header><s:Body>${body}</s:Body></s:Envelope>`
  );
}

/** Options of {@link probeXml}. */
export interface ProbeOptions {
  messageId?: string;
  /** Types content, e.g. `dn:NetworkVideoTransmitter`; '' or undefined for none. */
  types?: string;
  /** Extra namespace declarations on the Probe element, e.g. `{ dn: 'http://…' }`. */
  ns?: Record<string, string>;
  scopes?: string[];
  matchBy?: string;
}

/** A WS-Discovery Probe. */
export function probeXml(o: ProbeOptions = {}): string {
  const ns = Object.entries(
    o.ns ?? { dn: 'http://www.onvif.org/ver10/network/wsdl', tds: 'http://www.onvif.org/ver10/device/wsdl' },
  )
    .map(([p, u]) => ` xmlns:${p}="${u}"`)
    .join('');
  const matchBy = o.matchBy !== undefined ? ` MatchBy="${o.matchBy}"` : '';
  return (
    `<?xml version="1.0" encoding="UTF-8"?>` +
    `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" ` +
    `xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery">` +
    `<s:Header><a:MessageID>${o.messageId ?? `urn:uuid:${randomUUID()}`}</a:MessageID>` +
    `<a:To>urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To>` +
    `<a:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe</a:Action></s:Header>` +
    `<s:Body><d:Probe${ns}>` +
    (o.types !== undefined && o.types !== '' ? `<d:Types>${o.types}</d:Types>` : '') +
    (o.scopes !== undefined ? `<d:Scopes${matchBy}>${o.scopes.join(' ')}</d:Scopes>` : '') +
    `</d:Probe></s:Body></s:Envelope>`
  );
}

/** One received datagram. */
export interface Datagram {
  text: string;
  from: { address: string; port: number };
  atMs: number;
}

/** A loopback UDP socket that records every datagram it receives. */
export class UdpPeer {
  readonly received: Datagram[] = [];

  private constructor(private readonly socket: dgram.Socket) {
    socket.on('message', (msg, rinfo) => {
      this.received.push({
        text: msg.toString('utf8'),
        from: { address: rinfo.address, port: rinfo.port },
        atMs: Date.now(),
      });
    });
  }

  /** Bind on 127.0.0.1 (ephemeral port unless given). */
  static async open(port = 0): Promise<UdpPeer> {
    const socket = dgram.createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(port, '127.0.0.1', () => {
        socket.off('error', reject);
        resolve();
      });
    });
    return new UdpPeer(socket);
  }

  get port(): number {
    return this.socket.address().port;
  }

  /** Send to a loopback address. */
  async send(text: string, port: number, host = '127.0.0.1'): Promise<void> {
    if (!host.startsWith('127.')) throw new Error(`UdpPeer: ${host} is not loopback`);
    await new Promise<void>((resolve, reject) => {
      this.socket.send(Buffer.from(text, 'utf8'), port, host, (err) => {
        if (err) reject(err);
        else resolve();
      });
    });
  }

  /** First datagram (received so far or later) satisfying `pred`. */
  async next(pred: (d: Datagram) => boolean, what: string, timeoutMs = 10_000): Promise<Datagram> {
    return waitFor(() => this.received.find(pred), { what, timeoutMs });
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.socket.close(() => {
        resolve();
      });
    });
  }
}
