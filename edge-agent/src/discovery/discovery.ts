/**
 * The discovery service: finds ONVIF devices (WS-Discovery unicast/multicast, Hello/Bye, direct
 * addresses), describes them through the ONVIF adapter, and keeps a registry keyed by identity —
 * the endpoint reference, else the serial number, never the address. A camera that changes
 * address is the same camera (`moved`); one that cannot be described stays listed with its
 * access state and last error, and is retried with exponential backoff and jitter.
 */
import { EdgeError, isEdgeError } from '../errors.ts';
import { silentLogger, type Logger } from '../log.ts';
import { DEFAULT_RETRY_POLICY, retryDelayMs, type RetryPolicy } from './backoff.ts';
import { accessForError, sanitizeDetail } from './classify.ts';
import {
  identityKey,
  normaliseEndpointReference,
  pickXaddr,
  placeholderKey,
  stripUrlCredentials,
} from './identity.ts';
import {
  OnvifAdapter,
  type DeviceDescriber,
  type OnvifAdapterOptions,
  type OnvifDescription,
} from './onvif-adapter.ts';
import type {
  CredentialsLookup,
  DeviceChange,
  DeviceChangeKind,
  DeviceDiscovery,
  DeviceSource,
  DiscoveredDevice,
  DiscoveryStats,
  Snapshot,
} from './types.ts';
import { WsDiscoveryClient, type MulticastOptions, type UnicastTarget } from './ws-discovery.ts';
import type { DiscoveredEndpoint } from './ws-discovery-xml.ts';

/** Options of {@link Discovery}. Durations in ms. */
export interface DiscoveryOptions {
  /** Multicast WS-Discovery: off unless `{ enabled: true }` (explicit opt-in). */
  multicast?: MulticastOptions;
  /** WS-Discovery UDP endpoints probed directly (sites where multicast does not cross VLANs). */
  unicastTargets?: readonly UnicastTarget[];
  /** ONVIF device-service addresses of cameras used without discovery. */
  xaddrs?: readonly string[];
  /** Where to hear Hello/Bye by unicast (a loopback port in tests); off when undefined. */
  helloListen?: { host: string; port: number };
  /** Bind address of the probe socket; see WsDiscoveryClientOptions.bindAddress. */
  bindAddress?: string;
  /** Credentials per device (per camera, else the site default); undefined = none. */
  credentialsFor: CredentialsLookup;
  /** Time between probe rounds. Default 60 000. */
  reprobeIntervalMs?: number;
  /** How long a unicast probe round collects ProbeMatches. Default 1000. */
  probeTimeoutMs?: number;
  /** How long a round with multicast collects ProbeMatches. Default 2000. */
  multicastWindowMs?: number;
  /** Probe rounds a probed device may miss before it is `lost`. Default 3. */
  lostAfterMissedRounds?: number;
  /** Most devices kept; announcements of further new devices are ignored (a Hello flood). Default 512. */
  maxDevices?: number;
  /** Describe retry backoff. Default {@link DEFAULT_RETRY_POLICY}. */
  retry?: Partial<RetryPolicy>;
  /** Limits of the ONVIF adapter this service creates (when `describer` is not given). */
  onvif?: OnvifAdapterOptions;
  /** Use this instead of creating an OnvifAdapter (it is then not closed by `stop()`). */
  describer?: DeviceDescriber;
  logger?: Logger;
  /** Clock (epoch ms). Default Date.now. */
  now?: () => number;
  /** Random in [0, 1) for jitter. Default Math.random. */
  random?: () => number;
}

/** Defaults of {@link DiscoveryOptions}. */
export const DISCOVERY_DEFAULTS = {
  reprobeIntervalMs: 60_000,
  probeTimeoutMs: 1_000,
  multicastWindowMs: 2_000,
  lostAfterMissedRounds: 3,
  maxDevices: 512,
} as const;

interface DeviceRecord extends DiscoveredDevice {
  /** Announced to listeners (`added` sent). */
  announced: boolean;
  /** Answered a probe at least once: missed rounds count against it. */
  viaProbe: boolean;
  missedRounds: number;
  /** Configured direct addresses that resolved to this device. */
  directXaddrs: Set<string>;
  inflight: Promise<void> | undefined;
  queued: { after: DeviceChangeKind; previousXaddr: string | undefined } | undefined;
  removed: boolean;
}

function publicView(r: DeviceRecord): DiscoveredDevice {
  return {
    key: r.key,
    identified: r.identified,
    identity: { ...r.identity },
    xaddr: r.xaddr,
    xaddrs: [...r.xaddrs],
    scopes: [...r.scopes],
    metadataVersion: r.metadataVersion,
    profiles: r.profiles.map((p) => ({ ...p })),
    analysisProfileToken: r.analysisProfileToken,
    snapshotUri: r.snapshotUri,
    hasSnapshot: r.hasSnapshot,
    access: r.access,
    lastError: r.lastError === undefined ? undefined : { ...r.lastError },
    failedAttempts: r.failedAttempts,
    describeAttempts: r.describeAttempts,
    nextRetryAtMs: r.nextRetryAtMs,
    describedAtMs: r.describedAtMs,
    seen: r.seen,
    source: r.source,
    firstSeenMs: r.firstSeenMs,
    lastSeenMs: r.lastSeenMs,
  };
}

/** The discovery service (see the module comment). */
export class Discovery implements DeviceDiscovery {
  private readonly records = new Map<string, DeviceRecord>();
  /** Configured direct address → key of the device it resolved to. */
  private readonly directBindings = new Map<string, string>();
  private readonly listeners = new Set<(c: DeviceChange) => void>();
  private readonly log: Logger;
  private readonly describer: DeviceDescriber;
  private readonly ownAdapter: OnvifAdapter | undefined;
  private readonly retry: RetryPolicy;
  private readonly now: () => number;
  private readonly random: () => number;
  private client: WsDiscoveryClient | undefined;
  private unsubscribe: (() => void) | undefined;
  private reprobeTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private roundChain: Promise<void> = Promise.resolve();
  private roundRunning = false;
  private started = false;
  private stopped = false;
  private readonly counters = { probeRounds: 0, describeAttempts: 0, describeFailures: 0 };
  /** Configured direct addresses, credentials removed (node-onvif gets them separately). */
  private readonly directXaddrs: string[];

  constructor(private readonly opts: DiscoveryOptions) {
    this.log = (opts.logger ?? silentLogger()).child({ module: 'discovery' });
    if (opts.describer !== undefined) {
      this.describer = opts.describer;
    } else {
      this.ownAdapter = new OnvifAdapter(opts.onvif);
      this.describer = this.ownAdapter;
    }
    this.retry = { ...DEFAULT_RETRY_POLICY, ...opts.retry };
    const stripped = (opts.xaddrs ?? []).map(stripUrlCredentials);
    if (stripped.some((x, i) => x !== opts.xaddrs?.[i])) {
      this.log.warn('credentials in configured ONVIF addresses are ignored; configure them as credentials');
    }
    this.directXaddrs = [...new Set(stripped)];
    this.now = opts.now ?? Date.now;
    this.random = opts.random ?? Math.random;
  }

  /** The UDP port Hello/Bye are heard on, once started (useful with `helloListen.port: 0`). */
  get helloPort(): number | undefined {
    return this.client?.helloPort;
  }

  /**
   * Open the sockets and schedule the first probe round at once, then every
   * `reprobeIntervalMs`. Resolves when the sockets are open, not when the round is done.
   * Throws EdgeError EDGE_ERR_DISCOVERY_SOCKET.
   */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    const o = this.opts;
    const needsUdp =
      o.multicast?.enabled === true || (o.unicastTargets ?? []).length > 0 || o.helloListen !== undefined;
    if (needsUdp) {
      this.client = await WsDiscoveryClient.open({
        ...(o.multicast !== undefined && { multicast: o.multicast }),
        ...(o.bindAddress !== undefined && { bindAddress: o.bindAddress }),
        ...(o.helloListen !== undefined && { helloListen: o.helloListen }),
        unicastTargets: o.unicastTargets ?? [],
        logger: this.log,
      });
      this.unsubscribe = this.client.onAnnouncement((a) => {
        if (a.kind === 'hello') void this.onEndpoint(a.endpoint, 'hello');
        else this.onBye(a.endpointReference);
      });
    }
    this.log.info(
      {
        multicast: this.client?.multicastEnabled ?? false,
        unicast_targets: (o.unicastTargets ?? []).length,
        xaddrs: this.directXaddrs.length,
        hello_port: this.client?.helloPort,
      },
      'discovery started',
    );
    this.scheduleReprobe(0);
  }

  /** Stop timers, close sockets, end running describes. Idempotent. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.reprobeTimer);
    clearTimeout(this.retryTimer);
    this.unsubscribe?.();
    await this.client?.close();
    await this.ownAdapter?.close();
    await Promise.allSettled([...this.records.values()].flatMap((r) => r.inflight ?? []));
    await this.roundChain;
    this.log.info('discovery stopped');
  }

  devices(): DiscoveredDevice[] {
    return [...this.records.values()]
      .filter((r) => !r.removed)
      .map(publicView)
      .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  device(key: string): DiscoveredDevice | undefined {
    const r = this.records.get(key);
    return r === undefined ? undefined : publicView(r);
  }

  onChange(listener: (change: DeviceChange) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  stats(): DiscoveryStats {
    const c = this.client?.counts();
    return {
      probeRounds: this.counters.probeRounds,
      probesSent: c?.probesSent ?? 0,
      probeMatches: c?.probeMatches ?? 0,
      hellos: c?.hellos ?? 0,
      byes: c?.byes ?? 0,
      malformedDatagrams: c?.malformed ?? 0,
      oversizedDatagrams: c?.oversized ?? 0,
      unmatchedDatagrams: c?.unmatched ?? 0,
      describeAttempts: this.counters.describeAttempts,
      describeFailures: this.counters.describeFailures,
    };
  }

  /**
   * Run a probe round (after any round in progress) and wait until the devices it found or
   * configured are described.
   */
  probeNow(): Promise<void> {
    const next = this.roundChain.then(() => this.round());
    this.roundChain = next.catch((err: unknown) => {
      this.log.warn({ err }, 'probe round failed');
    });
    return next;
  }

  async retryNow(key: string): Promise<void> {
    const r = this.records.get(key);
    if (r === undefined) throw new EdgeError('EDGE_ERR_DISCOVERY_UNKNOWN_DEVICE', key);
    r.failedAttempts = 0;
    r.nextRetryAtMs = undefined;
    await this.describe(r, 'updated', undefined);
  }

  async fetchSnapshot(key: string): Promise<Snapshot> {
    const r = this.records.get(key);
    if (r === undefined) throw new EdgeError('EDGE_ERR_DISCOVERY_UNKNOWN_DEVICE', key);
    if (r.snapshotUri === '') throw new EdgeError('EDGE_ERR_ONVIF_NO_SNAPSHOT', key);
    return this.describer.fetchSnapshot(r.snapshotUri, this.credentialsOf(r));
  }

  // ── probe rounds ──────────────────────────────────────────────────────────────────────────

  private scheduleReprobe(delayMs: number): void {
    if (this.stopped) return;
    clearTimeout(this.reprobeTimer);
    this.reprobeTimer = setTimeout(() => {
      // A round already running (probeNow) counts as this one.
      if (!this.roundRunning) void this.probeNow().catch(() => undefined);
      this.scheduleReprobe(this.opts.reprobeIntervalMs ?? DISCOVERY_DEFAULTS.reprobeIntervalMs);
    }, delayMs);
    this.reprobeTimer.unref();
  }

  private async round(): Promise<void> {
    if (this.stopped) return;
    this.roundRunning = true;
    this.counters.probeRounds += 1;
    try {
      const pending: Promise<void>[] = [];
      const client = this.client;
      const targets = this.opts.unicastTargets ?? [];
      const multicast = client?.multicastEnabled ?? false;
      if (client !== undefined && (targets.length > 0 || multicast)) {
        let matches: DiscoveredEndpoint[] | undefined;
        try {
          matches = await client.probe(targets, {
            multicast,
            windowMs: multicast
              ? (this.opts.multicastWindowMs ?? DISCOVERY_DEFAULTS.multicastWindowMs)
              : (this.opts.probeTimeoutMs ?? DISCOVERY_DEFAULTS.probeTimeoutMs),
          });
        } catch (err) {
          this.log.warn({ err }, 'probe failed');
        }
        if (matches !== undefined) {
          const seen = new Set<DeviceRecord>();
          for (const m of matches) {
            const { promise, record } = this.onEndpoint(m, 'probe');
            if (promise !== undefined) pending.push(promise);
            if (record !== undefined) seen.add(record);
          }
          this.countMissedRound(seen);
        }
      }
      for (const xaddr of this.directXaddrs) {
        const p = this.checkDirect(xaddr);
        if (p !== undefined) pending.push(p);
      }
      await Promise.allSettled(pending);
    } finally {
      this.roundRunning = false;
    }
  }

  private countMissedRound(answered: Set<DeviceRecord>): void {
    const limit = this.opts.lostAfterMissedRounds ?? DISCOVERY_DEFAULTS.lostAfterMissedRounds;
    for (const r of this.records.values()) {
      if (r.removed || !r.viaProbe || answered.has(r)) continue;
      r.missedRounds += 1;
      if (r.seen && r.missedRounds >= limit) {
        r.seen = false;
        this.log.info({ device: r.key, missed_rounds: r.missedRounds }, 'device lost (missed probe rounds)');
        this.emit('lost', r);
      }
    }
  }

  // ── endpoints (ProbeMatch, Hello), Bye, direct addresses ──────────────────────────────────

  private findByEndpointReference(epr: string): DeviceRecord | undefined {
    const direct = this.records.get(epr);
    if (direct !== undefined && !direct.removed) return direct;
    for (const r of this.records.values()) {
      if (
        !r.removed &&
        r.identity.endpointReference !== '' &&
        normaliseEndpointReference(r.identity.endpointReference) === epr
      ) {
        return r;
      }
    }
    return undefined;
  }

  private onEndpoint(
    ep: DiscoveredEndpoint,
    source: DeviceSource,
  ): { promise: Promise<void> | undefined; record: DeviceRecord | undefined } {
    if (this.stopped) return { promise: undefined, record: undefined };
    const epr = normaliseEndpointReference(ep.endpointReference);
    const now = this.now();
    const existing = this.findByEndpointReference(epr);
    if (existing === undefined) {
      const xaddr = pickXaddr(ep.xaddrs);
      if (xaddr === undefined) {
        this.log.debug({ endpoint_reference: epr }, 'device announced without a usable address; ignored');
        return { promise: undefined, record: undefined };
      }
      if (this.records.size >= (this.opts.maxDevices ?? DISCOVERY_DEFAULTS.maxDevices)) {
        this.log.debug(
          { endpoint_reference: epr, devices: this.records.size },
          'device limit reached; ignored',
        );
        return { promise: undefined, record: undefined };
      }
      const r = this.newRecord(epr, xaddr, source, now);
      r.identity.endpointReference = ep.endpointReference;
      r.xaddrs = [...ep.xaddrs];
      r.scopes = [...ep.scopes];
      r.metadataVersion = ep.metadataVersion;
      r.viaProbe = source === 'probe';
      this.records.set(r.key, r);
      this.log.info({ device: r.key, xaddr, source }, 'new device');
      return { promise: this.describe(r, 'added', undefined), record: r };
    }

    const r = existing;
    r.lastSeenMs = now;
    if (source === 'probe') {
      r.viaProbe = true;
      r.missedRounds = 0;
    }
    const wasLost = !r.seen;
    r.seen = true;
    if (ep.scopes.length > 0) r.scopes = [...ep.scopes];
    const xaddr = pickXaddr(ep.xaddrs, r.xaddr);
    if (xaddr !== undefined && xaddr !== r.xaddr) {
      const previous = r.xaddr;
      r.xaddr = xaddr;
      r.xaddrs = [...ep.xaddrs];
      r.metadataVersion = ep.metadataVersion;
      // A new address is a reason to try again at once, whatever the backoff said.
      r.failedAttempts = 0;
      r.nextRetryAtMs = undefined;
      this.log.info({ device: r.key, from: previous, to: xaddr, source }, 'device moved');
      if (wasLost) this.emit('found', r);
      return { promise: this.describe(r, 'moved', previous), record: r };
    }
    if (ep.metadataVersion !== r.metadataVersion && r.access === 'ok') {
      r.metadataVersion = ep.metadataVersion;
      if (wasLost) this.emit('found', r);
      return { promise: this.describe(r, 'updated', undefined), record: r };
    }
    r.metadataVersion = ep.metadataVersion;
    if (wasLost) {
      this.log.info({ device: r.key, source }, 'device seen again');
      this.emit('found', r);
      this.scheduleRetry();
    }
    return { promise: undefined, record: r };
  }

  private onBye(eprRaw: string): void {
    if (this.stopped) return;
    const r = this.findByEndpointReference(normaliseEndpointReference(eprRaw));
    if (r === undefined || !r.seen) return;
    r.seen = false;
    this.log.info({ device: r.key }, 'device said Bye');
    this.emit('lost', r);
  }

  private checkDirect(xaddr: string): Promise<void> | undefined {
    const key = this.directBindings.get(xaddr);
    const bound = key === undefined ? undefined : this.records.get(key);
    if (bound !== undefined && !bound.removed) {
      // Configured: always "seen"; failures are retried by the retry timer, not every round.
      bound.lastSeenMs = this.now();
      return undefined;
    }
    const r = this.newRecord(placeholderKey(xaddr), xaddr, 'direct', this.now());
    r.identified = false;
    r.xaddrs = [xaddr];
    r.directXaddrs.add(xaddr);
    this.records.set(r.key, r);
    this.directBindings.set(xaddr, r.key);
    return this.describe(r, 'added', undefined);
  }

  private newRecord(key: string, xaddr: string, source: DeviceSource, now: number): DeviceRecord {
    return {
      key,
      identified: true,
      identity: {
        endpointReference: '',
        serialNumber: '',
        manufacturer: '',
        model: '',
        firmwareVersion: '',
        hardwareId: '',
      },
      xaddr,
      xaddrs: [xaddr],
      scopes: [],
      metadataVersion: 0,
      profiles: [],
      analysisProfileToken: '',
      snapshotUri: '',
      hasSnapshot: false,
      access: 'unknown',
      lastError: undefined,
      failedAttempts: 0,
      describeAttempts: 0,
      nextRetryAtMs: undefined,
      describedAtMs: undefined,
      seen: true,
      source,
      firstSeenMs: now,
      lastSeenMs: now,
      announced: false,
      viaProbe: false,
      missedRounds: 0,
      directXaddrs: new Set(),
      inflight: undefined,
      queued: undefined,
      removed: false,
    };
  }

  // ── describing ────────────────────────────────────────────────────────────────────────────

  private credentialsOf(r: DeviceRecord): ReturnType<CredentialsLookup> {
    return this.opts.credentialsFor({
      key: r.identified ? r.key : undefined,
      endpointReference: r.identity.endpointReference,
      serialNumber: r.identity.serialNumber,
      xaddr: r.xaddr,
    });
  }

  /**
   * Describe `r`, then emit `after`. While a describe runs, another request is queued (the
   * latest wins, a pending `moved` is kept) and runs right after; the promise covers both.
   */
  private describe(
    r: DeviceRecord,
    after: DeviceChangeKind,
    previousXaddr: string | undefined,
  ): Promise<void> {
    if (r.inflight !== undefined) {
      const keepMoved = r.queued?.after === 'moved' || after === 'moved';
      r.queued = {
        after: keepMoved ? 'moved' : after,
        previousXaddr: r.queued?.previousXaddr ?? previousXaddr,
      };
      return r.inflight;
    }
    const run = async (): Promise<void> => {
      let job: { after: DeviceChangeKind; previousXaddr: string | undefined } | undefined = {
        after,
        previousXaddr,
      };
      while (job !== undefined && !this.stopped && !r.removed) {
        await this.describeOnce(r, job.after, job.previousXaddr);
        job = r.queued;
        r.queued = undefined;
      }
    };
    const p = run()
      .catch((err: unknown) => {
        this.log.error({ err, device: r.key }, 'describing a device failed unexpectedly');
      })
      .finally(() => {
        r.inflight = undefined;
        this.scheduleRetry();
      });
    r.inflight = p;
    return p;
  }

  private async describeOnce(
    r: DeviceRecord,
    after: DeviceChangeKind,
    previousXaddr: string | undefined,
  ): Promise<void> {
    r.describeAttempts += 1;
    this.counters.describeAttempts += 1;
    const xaddr = r.xaddr;
    let outcome: { ok: true; d: OnvifDescription } | { ok: false; err: unknown };
    try {
      outcome = { ok: true, d: await this.describer.describe(xaddr, this.credentialsOf(r)) };
    } catch (err) {
      outcome = { ok: false, err };
    }
    if (this.stopped || r.removed) return;
    if (outcome.ok && after === 'moved' && previousXaddr !== undefined && this.impostor(r, outcome.d)) {
      // Anyone on the LAN can send a Hello with a known endpoint reference: the device at the
      // new address must be the same device, or the move is refused.
      this.log.warn(
        {
          device: r.key,
          claimed_xaddr: xaddr,
          serial: r.identity.serialNumber,
          claimed_serial: sanitizeDetail(outcome.d.information.serialNumber, 64),
        },
        'a different device claims this identity; move refused',
      );
      r.xaddr = previousXaddr;
      r.xaddrs = [previousXaddr];
      return;
    }
    if (outcome.ok) {
      this.applySuccess(r, outcome.d, after, previousXaddr);
    } else {
      this.applyFailure(r, outcome.err, after, previousXaddr);
    }
  }

  /** Whether a description contradicts what the device was known to be (another serial number). */
  private impostor(r: DeviceRecord, d: OnvifDescription): boolean {
    const known = r.identity.serialNumber;
    return known !== '' && d.information.serialNumber !== known;
  }

  private applySuccess(
    r: DeviceRecord,
    d: OnvifDescription,
    after: DeviceChangeKind,
    previousXaddr: string | undefined,
  ): void {
    const now = this.now();
    const wasOk = r.access === 'ok';
    Object.assign(r.identity, d.information);
    r.profiles = d.profiles.map(({ snapshotUri: _s, ...p }) => p);
    r.analysisProfileToken = d.analysisProfileToken;
    r.snapshotUri = d.snapshotUri;
    r.hasSnapshot = d.snapshotUri !== '';
    r.access = 'ok';
    r.lastError = undefined;
    r.failedAttempts = 0;
    r.nextRetryAtMs = undefined;
    r.describedAtMs = now;
    if (!wasOk) {
      this.log.info(
        { device: r.key, xaddr: r.xaddr, model: d.information.model, profiles: d.profiles.length },
        'device described',
      );
    }
    if (this.mergeBySerial(r)) return;
    if (!r.identified) {
      this.identifyPlaceholder(r);
      return;
    }
    this.announce(r, after, previousXaddr);
  }

  private applyFailure(
    r: DeviceRecord,
    err: unknown,
    after: DeviceChangeKind,
    previousXaddr: string | undefined,
  ): void {
    const now = this.now();
    this.counters.describeFailures += 1;
    const code = isEdgeError(err) ? err.code : 'EDGE_ERR_ONVIF_PROTOCOL';
    const raw = err instanceof Error ? err.message : String(err);
    const credentialsMissing = code === 'EDGE_ERR_ONVIF_AUTH' && this.credentialsOf(r) === undefined;
    const message = sanitizeDetail(
      credentialsMissing ? `${raw} (no credentials are configured for this device)` : raw,
      300,
    );
    const access = accessForError(code);
    const changed = r.access !== access || r.lastError?.code !== code;
    r.access = access;
    r.lastError = { code, message, atMs: now };
    r.failedAttempts += 1;
    const delay = retryDelayMs(r.failedAttempts, this.retry, code === 'EDGE_ERR_ONVIF_AUTH', this.random());
    r.nextRetryAtMs = now + delay;
    // warn once per new state; repeats (the retries) at debug, so a dead camera cannot flood the log.
    const fields = {
      device: r.key,
      xaddr: r.xaddr,
      code,
      attempts: r.failedAttempts,
      retry_in_ms: delay,
      error: message,
    };
    if (changed) this.log.warn(fields, 'cannot describe device');
    else this.log.debug(fields, 'describe retry failed');
    this.announce(r, after, previousXaddr);
  }

  private announce(r: DeviceRecord, after: DeviceChangeKind, previousXaddr: string | undefined): void {
    if (!r.announced) {
      r.announced = true;
      this.emit('added', r);
    } else {
      this.emit(after === 'added' ? 'updated' : after, r, previousXaddr);
    }
  }

  /**
   * The same device under two records (found by discovery and configured by address, or a
   * placeholder): keep one. Returns true when `r` was folded into another record.
   */
  private mergeBySerial(r: DeviceRecord): boolean {
    const serial = r.identity.serialNumber;
    if (serial === '') return false;
    const other = [...this.records.values()].find(
      (o) => o !== r && !o.removed && o.identified && o.identity.serialNumber === serial,
    );
    if (other === undefined) return false;
    const rEpr = r.identity.endpointReference;
    const oEpr = other.identity.endpointReference;
    if (rEpr !== '' && oEpr !== '' && normaliseEndpointReference(rEpr) !== normaliseEndpointReference(oEpr)) {
      this.log.warn({ device: r.key, other: other.key, serial }, 'two devices report the same serial number');
      return false;
    }
    // `other` stays (its key is already known to listeners); it takes what `r` knows.
    if (oEpr === '' && rEpr !== '') {
      other.identity.endpointReference = rEpr;
      other.viaProbe ||= r.viaProbe;
      other.scopes = [...r.scopes];
      other.metadataVersion = r.metadataVersion;
    }
    Object.assign(other.identity, { ...r.identity, endpointReference: other.identity.endpointReference });
    other.profiles = r.profiles;
    other.analysisProfileToken = r.analysisProfileToken;
    other.snapshotUri = r.snapshotUri;
    other.hasSnapshot = r.hasSnapshot;
    other.access = r.access;
    other.lastError = undefined;
    other.failedAttempts = 0;
    other.nextRetryAtMs = undefined;
    other.describedAtMs = r.describedAtMs;
    other.seen = true;
    for (const x of r.directXaddrs) {
      other.directXaddrs.add(x);
      this.directBindings.set(x, other.key);
    }
    this.removeRecord(r, other.key);
    this.log.info({ device: other.key, merged: r.key }, 'same device under two records merged');
    this.announce(other, 'updated', undefined);
    return true;
  }

  /** A placeholder (`xaddr:`) that could be described: list it under its real key. */
  private identifyPlaceholder(r: DeviceRecord): void {
    const key = identityKey({ serialNumber: r.identity.serialNumber });
    if (key === undefined) {
      this.log.warn({ device: r.key }, 'device reports no serial number; it stays listed by address');
      this.announce(r, 'updated', undefined);
      return;
    }
    const real: DeviceRecord = {
      ...r,
      key,
      identified: true,
      announced: false,
      inflight: undefined,
      queued: undefined,
      directXaddrs: new Set(r.directXaddrs),
    };
    this.records.set(key, real);
    for (const x of real.directXaddrs) this.directBindings.set(x, key);
    this.removeRecord(r, key);
    this.log.info({ device: key, xaddr: real.xaddr }, 'configured device identified');
    this.announce(real, 'added', undefined);
  }

  private removeRecord(r: DeviceRecord, replacedBy: string): void {
    r.removed = true;
    this.records.delete(r.key);
    if (r.announced) this.emit('removed', r, undefined, replacedBy);
  }

  // ── retries ───────────────────────────────────────────────────────────────────────────────

  /** Arm the retry timer for the earliest failed, seen device. */
  private scheduleRetry(): void {
    if (this.stopped) return;
    clearTimeout(this.retryTimer);
    let due: number | undefined;
    for (const r of this.records.values()) {
      if (r.removed || !r.seen || r.inflight !== undefined || r.nextRetryAtMs === undefined) continue;
      due = due === undefined ? r.nextRetryAtMs : Math.min(due, r.nextRetryAtMs);
    }
    if (due === undefined) return;
    this.retryTimer = setTimeout(
      () => {
        this.runDueRetries();
      },
      Math.max(0, due - this.now()),
    );
    this.retryTimer.unref();
  }

  private runDueRetries(): void {
    const now = this.now();
    for (const r of this.records.values()) {
      if (r.removed || !r.seen || r.inflight !== undefined) continue;
      if (r.nextRetryAtMs !== undefined && r.nextRetryAtMs <= now)
        void this.describe(r, 'updated', undefined);
    }
    this.scheduleRetry();
  }

  // ── events ────────────────────────────────────────────────────────────────────────────────

  private emit(kind: DeviceChangeKind, r: DeviceRecord, previousXaddr?: string, replacedBy?: string): void {
    const change: DeviceChange = {
      kind,
      device: publicView(r),
      ...(previousXaddr !== undefined && { previousXaddr }),
      ...(replacedBy !== undefined && { replacedBy }),
    };
    for (const l of this.listeners) {
      try {
        l(change);
      } catch (err) {
        this.log.warn({ err, kind, device: r.key }, 'discovery listener failed');
      }
    }
  }
}
