/**
 * The agent as a whole (startEdgeApp) configured with `mqtt`, against embedded Aedes: it goes
 * ONLINE (retained, with its version), applies a SiteConfig pushed on its config topic live
 * (its plans and reported revision change, no restart), publishes the new camera's status,
 * reports the spool and link on /healthz and /metrics, and leaves OFFLINE when stopped.
 * Detection is off (no models needed): events are covered by the link and spool tests.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentState } from '../../../proto/gen/sharpeyes/v1/camera.ts';
import { SiteConfig } from '../../../proto/gen/sharpeyes/v1/config.ts';
import { encodePayload, filter, topic } from '../../../proto/topics.ts';
import { startEdgeApp, VERSION, type EdgeApp } from '../../../edge-agent/src/app.ts';
import { parseConfig } from '../../../edge-agent/src/config/load.ts';
import { silentLogger } from '../../../edge-agent/src/log.ts';
import { connectMqtt } from '../../../edge-agent/src/publish/index.ts';
import { makeTempDir, type TempDir } from '../../bench/lifetime.ts';
import { waitFor } from '../../bench/wait.ts';
import { decode, readRetained, startTestBroker, type TestBroker } from './harness.ts';

const SITE = 'village-9';

describe('edge app with mqtt', () => {
  let tmp: TempDir;
  let broker: TestBroker;
  let app: EdgeApp | undefined;

  beforeAll(async () => {
    tmp = makeTempDir('edge-app-mqtt');
    broker = await startTestBroker('aedes', join(tmp.path, 'broker'));
  });

  afterAll(async () => {
    await app?.stop();
    await broker.close();
    tmp.remove();
  });

  it('goes online, applies a pushed SiteConfig live, reports transport health, and goes offline on stop', async () => {
    const config = parseConfig({
      site_id: SITE,
      data_dir: join(tmp.path, 'edge'),
      http: { port: 0 },
      detect: { face: false, plate: false },
      mqtt: { url: broker.url, reconnect_initial_ms: 50, reconnect_max_ms: 500, status_interval_ms: 1000 },
    });
    const running = await startEdgeApp({ config, logger: silentLogger() });
    app = running;
    expect(running.transport).toBeDefined();

    const agentTopic = topic.agent(SITE);
    const online = await readRetained(
      broker.url,
      [agentTopic],
      (r) => decode.agent(r.get(agentTopic))?.state === AgentState.AGENT_STATE_ONLINE,
      'ONLINE retained',
    );
    expect(decode.agent(online.get(agentTopic))?.version).toBe(VERSION);

    // The gateway pushes a config with one camera.
    const gateway = await connectMqtt(
      { url: broker.url, clientId: 'gateway-test', keepaliveS: 10, connectTimeoutMs: 5000, clean: true },
      () => undefined,
    );
    await gateway.publish(
      topic.config(SITE),
      encodePayload(
        'config',
        SiteConfig.fromPartial({
          siteId: SITE,
          revision: 5,
          cameras: [{ cameraId: 'v9-gate', xaddr: 'http://127.0.0.1:9/onvif/device_service', enabled: true }],
        }),
      ),
      { qos: 1, retain: true },
    );
    await gateway.end(1000);

    await waitFor(() => (running.plans().some((p) => p.cameraId === 'v9-gate') ? true : undefined), {
      what: 'the camera of the pushed config to be planned',
      timeoutMs: 20_000,
    });
    await readRetained(
      broker.url,
      [agentTopic, filter.cameraStatus],
      (r) =>
        decode.agent(r.get(agentTopic))?.configRevision === 5 && r.has(topic.cameraStatus(SITE, 'v9-gate')),
      'revision 5 reported and the camera status retained',
    );

    const healthz = (await (await fetch(`${running.healthUrl}/healthz`)).json()) as Record<string, unknown>;
    expect(healthz).toMatchObject({ config_revision: 5, mqtt_connected: true, spool_events: 0 });
    const metrics = await (await fetch(`${running.healthUrl}/metrics`)).text();
    expect(metrics).toContain('sharpeyes_edge_mqtt_connected{site_id="village-9"} 1');
    expect(metrics).toContain('sharpeyes_edge_spool_events{site_id="village-9"} 0');

    await running.stop();
    app = undefined;
    await readRetained(
      broker.url,
      [agentTopic],
      (r) => decode.agent(r.get(agentTopic))?.state === AgentState.AGENT_STATE_OFFLINE,
      'OFFLINE retained after stop',
    );
  });
});
