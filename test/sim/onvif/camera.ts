/**
 * The simulated ONVIF camera: SOAP device + media services and a Digest-protected snapshot over
 * HTTP, WS-Discovery over UDP, and run-time fault modes. A real network peer on loopback.
 */
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

import { pino, type Logger } from 'pino';

import { resolveCamera, validateCameraOptions, type ResolvedCamera } from './config.ts';
import { DEVICE_OPERATIONS } from './device-service.ts';
import { DiscoveryResponder, type DiscoveryTarget } from './discovery.ts';
import { SimError } from './errors.ts';
import { applyReplyFault, normalizeFault } from './faults.ts';
import { DigestAuthenticator } from './http-digest.ts';
import { assertLoopback } from './isolation.ts';
import { defaultSnapshotJpeg } from './jpeg.ts';
import { MEDIA_OPERATIONS } from './media-service.ts';
import { PATHS, baseUrl, type Operation, type ServiceContext } from './operation.ts';
import { FAULTS, envelope, faultEnvelope, faultStatus, type SoapFault } from './soap.ts';
import type { CameraStats, FaultMode, OnvifCamera, OnvifCameraOptions, SnapshotFunction } from './types.ts';
import { NonceCache, extractUsernameToken, verifyUsernameToken } from './ws-security.ts';
import { MAX_XML_BYTES, NS, child, parseXml } from './xml.ts';

const SOAP_CONTENT_TYPE = 'application/soap+xml; charset=utf-8';
const DIGEST_REALM = 'sharpeyes-onvif-sim';

interface Service {
  ns: string;
  operations: Readonly<Record<string, Operation>>;
}

const SERVICES: Readonly<Record<string, Service>> = {
  [PATHS.device]: { ns: NS.tds, operations: DEVICE_OPERATIONS },
  [PATHS.media]: { ns: NS.trt, operations: MEDIA_OPERATIONS },
};

/** Start a simulated camera; resolves once HTTP (and discovery, if on) listen and Hello is sent. */
export async function startOnvifCamera(options: OnvifCameraOptions): Promise<OnvifCamera> {
  return SimulatedOnvifCamera.start(options);
}

class SimulatedOnvifCamera implements OnvifCamera {
  private server: http.Server;
  /** Where the HTTP server listens; kept after stop() so getters keep answering. */
  private addr: { host: string; port: number };
  private discovery: DiscoveryResponder | undefined;
  private currentFault: FaultMode;
  private version = 1;
  private readonly counters: CameraStats = {
    soap_requests: 0,
    auth_failures: 0,
    snapshot_requests: 0,
    probes_received: 0,
    probes_answered: 0,
    hellos_sent: 0,
  };
  private readonly pendingReplies = new Set<NodeJS.Timeout>();
  private readonly nonces: NonceCache | undefined;
  private readonly digest = new DigestAuthenticator(DIGEST_REALM);
  private readonly log: Logger;
  private stopping: Promise<void> | undefined;
  /** Serialises move() and stop(). */
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly cfg: ResolvedCamera,
    private readonly snapshotSource: string | SnapshotFunction | undefined,
    parentLogger: Logger,
  ) {
    this.currentFault = cfg.fault;
    this.log = parentLogger.child({ module: 'onvif-sim', camera: cfg.name });
    this.nonces = cfg.auth.reject_replayed_nonce ? new NonceCache(cfg.auth.max_clock_skew_ms) : undefined;
    this.server = this.createServer();
    this.addr = { host: cfg.host, port: cfg.httpPort };
  }

  static async start(options: OnvifCameraOptions): Promise<SimulatedOnvifCamera> {
    validateCameraOptions(options);
    const { snapshot, logger, ...rest } = options;
    const cfg = resolveCamera(rest);
    const cam = new SimulatedOnvifCamera(cfg, snapshot, logger ?? pino({ level: 'silent' }));
    cam.addr = await listen(cam.server, cfg.host, cfg.httpPort);
    try {
      if (cfg.discovery.mode !== 'off') {
        cam.discovery = await DiscoveryResponder.start({
          config: cfg.discovery,
          target: () => cam.discoveryTarget(),
          fault: () => cam.currentFault,
          stats: cam.counters,
          logger: cam.log,
        });
        await cam.discovery.hello();
      }
    } catch (err) {
      await closeServer(cam.server);
      throw err;
    }
    cam.log.info(
      { xaddr: cam.xaddr, discovery_port: cam.discoveryPort, endpoint_reference: cam.endpointReference },
      'camera started',
    );
    return cam;
  }

  get name(): string {
    return this.cfg.name;
  }

  get endpointReference(): string {
    return this.cfg.identity.endpoint_reference;
  }

  get identity(): Readonly<ResolvedCamera['identity']> {
    return this.cfg.identity;
  }

  get host(): string {
    return this.addr.host;
  }

  get httpPort(): number {
    return this.addr.port;
  }

  get xaddr(): string {
    return `${baseUrl(this)}${PATHS.device}`;
  }

  get mediaXaddr(): string {
    return `${baseUrl(this)}${PATHS.media}`;
  }

  get discoveryPort(): number | undefined {
    return this.discovery?.port;
  }

  get metadataVersion(): number {
    return this.version;
  }

  fault(): FaultMode {
    return { ...this.currentFault };
  }

  setFault(fault: FaultMode): void {
    this.currentFault = normalizeFault(fault);
    this.log.info({ fault: this.currentFault.kind }, 'fault mode changed');
  }

  stats(): Readonly<CameraStats> {
    return { ...this.counters };
  }

  async move(host: string, port = 0, streams: Readonly<Record<string, string>> = {}): Promise<void> {
    assertLoopback(host, 'move');
    await this.serialised(async () => {
      if (this.stopping !== undefined)
        throw new SimError('SIM_ERR_STOPPED', `${this.name}: move() after stop()`);
      // A real camera that changes IP serves its streams from the new address too.
      this.cfg.profiles = this.cfg.profiles.map((p) => {
        const uri = streams[p.token];
        return uri === undefined ? p : { ...p, rtsp_uri: uri };
      });
      const next = this.createServer();
      const nextAddr = await listen(next, host, port);
      const old = this.server;
      this.server = next;
      this.addr = nextAddr;
      this.flushPendingReplies();
      await closeServer(old);
      this.version += 1;
      this.log.info({ xaddr: this.xaddr, metadata_version: this.version }, 'camera moved');
      await this.discovery?.hello();
    });
  }

  async stop(): Promise<void> {
    this.stopping ??= this.serialised(async () => {
      this.flushPendingReplies();
      await this.discovery?.stop();
      await closeServer(this.server);
      this.log.info('camera stopped');
    });
    return this.stopping;
  }

  private serialised<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private discoveryTarget(): DiscoveryTarget {
    return {
      endpointReference: this.endpointReference,
      scopes: this.cfg.scopes,
      xaddrs: this.xaddr,
      metadataVersion: this.version,
    };
  }

  private context(): ServiceContext {
    const { host, port } = this.addr;
    return {
      identity: this.cfg.identity,
      hostname: this.cfg.hostname,
      scopes: this.cfg.scopes,
      profiles: this.cfg.profiles,
      host,
      httpPort: port,
      nowMs: () => this.nowMs(),
    };
  }

  private nowMs(): number {
    return Date.now() + this.cfg.clockOffsetMs;
  }

  private password(): string {
    const f = this.currentFault;
    return f.kind === 'wrong_credentials'
      ? (f.password ?? `${this.cfg.credentials.password}-rotated`)
      : this.cfg.credentials.password;
  }

  private flushPendingReplies(): void {
    for (const t of this.pendingReplies) clearTimeout(t);
    this.pendingReplies.clear();
  }

  /** Run `reply` now, or after the `slow` delay. */
  private deferred(fault: FaultMode, reply: () => void): void {
    if (fault.kind !== 'slow' || fault.delay_ms === 0) {
      reply();
      return;
    }
    const timer = setTimeout(() => {
      this.pendingReplies.delete(timer);
      reply();
    }, fault.delay_ms);
    this.pendingReplies.add(timer);
  }

  private createServer(): http.Server {
    const server = http.createServer((req, res) => {
      this.onRequest(req, res);
    });
    server.on('clientError', (err, socket) => {
      this.log.debug({ err }, 'bad HTTP request');
      socket.destroy();
    });
    return server;
  }

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = req.url ?? '/';
    const pathname = url.split('?')[0] ?? '/';
    const service = Object.hasOwn(SERVICES, pathname) ? SERVICES[pathname] : undefined;
    const isSnapshot = pathname.startsWith(PATHS.snapshotPrefix);
    if (service !== undefined) this.counters.soap_requests += 1;
    if (isSnapshot) this.counters.snapshot_requests += 1;
    const fault = this.currentFault;
    if (fault.kind === 'silent') {
      // Hold the connection open and never answer; stop()/move() cut it.
      req.resume();
      return;
    }
    if (service !== undefined) {
      if (req.method !== 'POST') {
        send(res, 405, 'text/plain', 'SOAP endpoints take POST\n', { Allow: 'POST' });
        return;
      }
      readBody(req, MAX_XML_BYTES).then(
        (body) => {
          if (body === undefined) {
            send(res, 413, 'text/plain', 'request too large\n', { Connection: 'close' });
            return;
          }
          const { status, xml } = this.soap(service, body.toString('utf8'));
          const payload = applyReplyFault(xml, fault);
          this.deferred(fault, () => {
            send(res, status, SOAP_CONTENT_TYPE, payload);
          });
        },
        (err: unknown) => {
          this.log.debug({ err }, 'request body aborted');
        },
      );
      return;
    }
    if (isSnapshot) {
      req.resume();
      this.snapshot(req, decodeURIComponent(pathname.slice(PATHS.snapshotPrefix.length)), url).then(
        (r) => {
          this.deferred(fault, () => {
            send(res, r.status, r.contentType, r.body, r.headers);
          });
        },
        (err: unknown) => {
          this.log.error({ err }, 'snapshot source failed');
          send(res, 500, 'text/plain', 'snapshot source failed\n');
        },
      );
      return;
    }
    req.resume();
    send(res, 404, 'text/plain', 'not found\n');
  }

  /** Handle one SOAP request body; returns the HTTP status and the reply envelope. */
  private soap(service: Service, body: string): { status: number; xml: string } {
    const fault = (f: SoapFault): { status: number; xml: string } => ({
      status: faultStatus(f),
      xml: faultEnvelope(f),
    });
    const parsed = parseXml(body);
    if (!parsed.ok) {
      this.log.debug({ reason: parsed.reason, detail: parsed.detail }, 'unparseable SOAP request');
      return fault(parsed.reason === 'doctype' ? FAULTS.dtdNotAllowed() : FAULTS.wellFormed());
    }
    const root = parsed.root;
    if (root.local !== 'Envelope' || root.ns !== NS.soap) return fault(FAULTS.versionMismatch());
    const request = child(root, 'Body', NS.soap)?.children[0];
    if (request === undefined) return fault(FAULTS.wellFormed());
    const op =
      request.ns === service.ns && Object.hasOwn(service.operations, request.local)
        ? service.operations[request.local]
        : undefined;
    if (op === undefined) return fault(FAULTS.actionNotSupported(`{${request.ns}}${request.local}`));

    const token = extractUsernameToken(root);
    if (op.access === 'user' || (op.access === 'pre_auth' && token !== undefined)) {
      const result = verifyUsernameToken(token, {
        username: this.cfg.credentials.username,
        password: this.password(),
        nowMs: this.nowMs(),
        maxClockSkewMs: this.cfg.auth.max_clock_skew_ms,
        nonceCache: this.nonces,
      });
      if (!result.ok) {
        this.counters.auth_failures += 1;
        this.log.debug({ operation: request.local, why: result.why }, 'SOAP request not authorised');
        return fault(FAULTS.notAuthorized());
      }
    }
    const result = op.handle(request, this.context());
    if ('fault' in result) return fault(result.fault);
    return { status: 200, xml: envelope(result.body) };
  }

  private async snapshot(
    req: http.IncomingMessage,
    token: string,
    url: string,
  ): Promise<{
    status: number;
    contentType: string;
    body: Buffer | string;
    headers?: Record<string, string>;
  }> {
    const text = (status: number, body: string, headers?: Record<string, string>) => ({
      status,
      contentType: 'text/plain',
      body,
      ...(headers !== undefined ? { headers } : {}),
    });
    if (req.method !== 'GET' && req.method !== 'HEAD') return text(405, 'GET only\n', { Allow: 'GET, HEAD' });
    if (!this.cfg.profiles.some((p) => p.token === token)) return text(404, 'no such profile\n');
    const auth = this.digest.verify(
      req.headers.authorization,
      { method: req.method, uri: url },
      { username: this.cfg.credentials.username, password: this.password() },
      Date.now(),
    );
    if (!auth.ok) {
      this.log.debug({ why: auth.why }, 'snapshot request not authorised');
      return text(401, 'Unauthorized\n', {
        'WWW-Authenticate': this.digest.challenge(Date.now(), auth.why === 'stale_nonce'),
      });
    }
    const jpeg = await this.snapshotBytes(token);
    return { status: 200, contentType: 'image/jpeg', body: req.method === 'HEAD' ? '' : jpeg };
  }

  private async snapshotBytes(token: string): Promise<Buffer> {
    const src = this.snapshotSource;
    if (typeof src === 'function') return src(token);
    if (typeof src === 'string') return readFile(src);
    return defaultSnapshotJpeg(`sharpeyes-onvif-sim ${this.cfg.identity.serial_number} ${token}`);
  }
}

function send(
  res: http.ServerResponse,
  status: number,
  contentType: string,
  body: Buffer | string,
  headers: Record<string, string> = {},
): void {
  if (res.destroyed || res.headersSent) return;
  const buf = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  res.writeHead(status, {
    'Content-Type': contentType,
    'Content-Length': String(buf.length),
    Server: 'sharpeyes-onvif-sim',
    ...headers,
  });
  res.end(buf);
}

/** The body, or undefined when it exceeds `max` bytes (the rest is drained, not buffered). */
async function readBody(req: http.IncomingMessage, max: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  let tooLarge = false;
  for await (const chunk of req) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > max) tooLarge = true;
    if (!tooLarge) chunks.push(buf);
  }
  return tooLarge ? undefined : Buffer.concat(chunks);
}

async function listen(
  server: http.Server,
  host: string,
  port: number,
): Promise<{ host: string; port: number }> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const a = server.address() as AddressInfo;
  return { host: a.address, port: a.port };
}

async function closeServer(server: http.Server): Promise<void> {
  if (!server.listening) return;
  await new Promise<void>((resolve) => {
    server.close(() => {
      resolve();
    });
    // Keep-alive and silently-held connections would otherwise keep close() waiting.
    server.closeAllConnections();
  });
}
