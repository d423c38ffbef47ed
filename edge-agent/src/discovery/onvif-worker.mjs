// The one place node-onvif runs: a worker thread started by onvif-adapter.ts for ONE task
// (describe a device, or fetch a snapshot), then terminated. The adapter owns the typed
// boundary, the hard time limit and the heap limit; this file only:
//   - counts every byte received on every socket and gives up past `maxReplyBytes` (Buffers are
//     off-heap, so the worker's heap limit alone would not bound a 50 MB reply or snapshot);
//   - notes socket timeouts, so an aborted request is reported as a timeout;
//   - flattens node-onvif's results into plain strings and numbers before posting them (a
//     hostile reply can make xml2js build objects too deep to structured-clone).
//
// Plain JavaScript on purpose: worker threads run without the TS loader.
import { Buffer } from 'node:buffer';
import http from 'node:http';
import { createRequire } from 'node:module';
import net from 'node:net';
import process from 'node:process';
import { URL } from 'node:url';
import { parentPort, workerData } from 'node:worker_threads';

const require = createRequire(import.meta.url);

/** @type {{ op: 'describe' | 'snapshot', xaddr?: string, uri?: string, user: string, pass: string, maxReplyBytes: number, requestTimeoutMs: number }} */
const task = workerData;

let settled = false;
let timedOut = false;

/** Post the one result of this worker; later results (a late node-onvif callback) are dropped. */
function finish(message) {
  if (settled) return;
  settled = true;
  parentPort?.postMessage(message);
}

function fail(kind, err) {
  const message = err instanceof Error ? err.message : String(err);
  finish({ ok: false, kind, message: message.slice(0, 1000), timedOut });
}

// node-onvif logs to the console on some failures; the worker's console must carry nothing
// (camera replies could end up on the agent's stdout).
for (const name of ['log', 'info', 'warn', 'error', 'debug', 'trace'])
  globalThis.console[name] = () => undefined;

class CappedAgent extends http.Agent {
  createConnection(options, callback) {
    const socket = net.createConnection(options, callback);
    let received = 0;
    socket.on('data', (chunk) => {
      received += chunk.length;
      if (received > task.maxReplyBytes) {
        fail('too_large', new Error(`reply exceeded ${task.maxReplyBytes} bytes`));
        socket.destroy();
      }
    });
    socket.on('timeout', () => {
      timedOut = true;
    });
    return socket;
  }
}
// node-onvif passes no agent: every request it makes goes through this one.
http.globalAgent = new CappedAgent({ keepAlive: false });

const MAX_XML_DEPTH = 64;

/**
 * Why a SOAP reply must not reach xml2js, or '' when it may. SOAP forbids DTDs (so no entity
 * can be declared, let alone expanded), and no ONVIF reply nests anywhere near 64 deep; xml2js
 * would spend seconds on a 100 000-deep document before failing.
 */
function refuseXml(xml) {
  if (typeof xml !== 'string') return 'reply is not text';
  if (/<!DOCTYPE|<!ENTITY/i.test(xml)) return 'reply carries a DTD (refused: entities are never expanded)';
  let depth = 0;
  const tags = /<(\/?)[A-Za-z_][^>]*?(\/?)>/g;
  for (let m = tags.exec(xml); m !== null; m = tags.exec(xml)) {
    if (m[1] === '/') depth -= 1;
    else if (m[2] !== '/') depth += 1;
    if (depth > MAX_XML_DEPTH) return `reply nests elements deeper than ${MAX_XML_DEPTH}`;
  }
  return '';
}

const soap = require('node-onvif/lib/modules/soap.js');
soap.HTTP_TIMEOUT = task.requestTimeoutMs;
const parseSoap = soap.parse.bind(soap);
soap.parse = (xml) => {
  const refusal = refuseXml(xml);
  return refusal === '' ? parseSoap(xml) : Promise.reject(new Error(`invalid SOAP: ${refusal}`));
};
const onvif = require('node-onvif');

/** xml2js gives a string, or `{ _: text, $: attrs }` when the element has attributes. */
function str(v) {
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return String(v);
  if (v !== null && typeof v === 'object' && typeof v._ === 'string') return v._;
  return '';
}

function num(v) {
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
}

async function describe() {
  const device = new onvif.OnvifDevice({ xaddr: task.xaddr, user: task.user, pass: task.pass });
  await device.init();
  const info = device.information ?? {};
  const profiles = (device.profile_list ?? []).map((p) => {
    const enc = p?.video?.encoder ?? null;
    return {
      token: str(p?.token),
      name: str(p?.name),
      encoding: str(enc?.encoding),
      width: num(enc?.resolution?.width),
      height: num(enc?.resolution?.height),
      fps: num(enc?.framerate),
      streamUri: str(p?.stream?.rtsp),
      snapshotUri: str(p?.snapshot),
    };
  });
  return {
    information: {
      manufacturer: str(info.Manufacturer),
      model: str(info.Model),
      firmwareVersion: str(info.FirmwareVersion),
      serialNumber: str(info.SerialNumber),
      hardwareId: str(info.HardwareId),
    },
    profiles,
  };
}

async function snapshot() {
  // node-onvif's fetchSnapshot() needs a fully initialised device (a dozen SOAP calls) only to
  // learn the URI we already have; its HTTP Digest client is the part we want.
  const auth = require('node-onvif/lib/modules/http-auth.js');
  const url = new URL(task.uri);
  return new Promise((resolve, reject) => {
    const req = auth.request(
      {
        protocol: url.protocol,
        auth: `${task.user}:${task.pass}`,
        hostname: url.hostname,
        port: url.port || 80,
        path: `${url.pathname}${url.search}`,
        method: 'GET',
      },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const contentType = String(res.headers['content-type'] ?? 'image/jpeg');
          if (res.statusCode !== 200) {
            reject(new Error(`${res.statusCode} ${res.statusMessage}`));
          } else if (!/^image\//.test(contentType)) {
            reject(new Error(`unexpected content type ${contentType.slice(0, 100)}`));
          } else {
            resolve({ contentType, body: Buffer.concat(chunks) });
          }
        });
      },
    );
    req.setTimeout(task.requestTimeoutMs, () => {
      timedOut = true;
      req.destroy(new Error('timeout'));
    });
    req.on('error', reject);
    req.end();
  });
}

process.on('uncaughtException', (err) => fail('error', err));
process.on('unhandledRejection', (err) => fail('error', err));

(task.op === 'snapshot' ? snapshot() : describe()).then(
  (result) => finish({ ok: true, result }),
  (err) => fail('error', err),
);
