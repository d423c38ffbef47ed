/**
 * A connection of the gateway's own to the broker (config push, snapshot requests), with the
 * gateway's credential under a user name of its own (see scale/config.ts `scaleUsers`): Mosquitto
 * with `use_username_as_clientid` makes that name the client id, so no two gateway connections
 * take over each other's session. Clean sessions: these connections keep nothing on the broker.
 */
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';

/** Where and as whom a gateway connection logs in. */
export interface GatewayMqttOptions {
  url: string;
  /** Its own user name, also used as its client id. */
  clientId: string;
  username: string;
  password: string;
  ca?: Buffer;
  reconnectPeriodMs: number;
}

/** Connect (mqtt.js reconnects by itself); `extra` adds client options. */
export function connectGatewayMqtt(o: GatewayMqttOptions, extra: Partial<IClientOptions> = {}): MqttClient {
  return mqtt.connect(o.url, {
    clientId: o.clientId,
    username: o.username,
    password: o.password,
    clean: true,
    reconnectPeriod: o.reconnectPeriodMs,
    connectTimeout: 30_000,
    ...(o.ca !== undefined && { ca: o.ca }),
    ...extra,
  });
}
