/**
 * A simulated fleet of sites for the api bench, run as its own process: `sites` MQTT connections
 * (each as its site, connected 10 at a time), then every camera's CameraStatus published retained
 * (QoS1, as edges do) once per `interval_ms`, spread evenly over the interval.
 *
 *   node --import tsx status-fleet.ts '{"url": …, "cameras": 10000, "sites": 250, "interval_ms": 10000, "duration_ms": 90000}'
 *
 * Sites are `rs-<n>`, cameras `rc-<n>` (camera n at site n mod sites), passwords as the broker
 * fixture makes them.
 */
import mqtt, { type MqttClient } from 'mqtt';
import { CameraState, type CameraStatus } from '../../../proto/gen/sharpeyes/v1/camera.ts';
import { encodePayload, topic } from '../../../proto/topics.ts';
import { sitePassword } from '../fixtures/broker.ts';

const o = JSON.parse(process.argv[2] ?? '{}') as {
  url: string;
  cameras: number;
  sites: number;
  interval_ms: number;
  duration_ms: number;
};

const clients: MqttClient[] = [];
const connect = async (s: number): Promise<void> => {
  const site = `rs-${s}`;
  const client = mqtt.connect(o.url, {
    clientId: `edge-${site}`,
    username: site,
    password: sitePassword(site),
    reconnectPeriod: 1000,
    clean: true,
  });
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => {
      resolve();
    });
    client.once('error', reject);
  });
  clients[s] = client;
};
// Sites reconnect in waves after an outage: 10 at a time.
for (let s = 0; s < o.sites; s += 10) {
  await Promise.all(Array.from({ length: Math.min(10, o.sites - s) }, (_, i) => connect(s + i)));
}
process.stdout.write(`${JSON.stringify({ connected: clients.length })}\n`);

const started = Date.now();
// stdout: {"connected": n} once every site is connected.
let sent = 0;
const tick = setInterval(() => {
  const elapsed = Date.now() - started;
  if (elapsed > o.duration_ms) {
    clearInterval(tick);
    for (const c of clients) c.end(true);
    return;
  }
  const due = Math.floor((elapsed / o.interval_ms) * o.cameras);
  while (sent < due) {
    const n = sent % o.cameras;
    const s = n % o.sites;
    const status: CameraStatus = {
      siteId: `rs-${s}`,
      cameraId: `rc-${n}`,
      state:
        Math.floor(sent / o.cameras) % 30 === 29 && n % 50 === 0
          ? CameraState.CAMERA_STATE_DEGRADED
          : CameraState.CAMERA_STATE_ONLINE,
      inputFps: 25,
      analysedFps: 2,
      droppedFrames: sent,
      lastFrameMs: Date.now(),
      lastError: '',
      lastErrorMs: 0,
      restarts: 0,
      updatedMs: Date.now(),
    };
    clients[s]?.publish(
      topic.cameraStatus(status.siteId, status.cameraId),
      encodePayload('cameraStatus', status),
      {
        qos: 1,
        retain: true,
      },
    );
    sent += 1;
  }
}, 10);
