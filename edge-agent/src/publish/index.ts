/** MQTT transport: the typed mqtt.js adapter, the spool sender and the link (statuses, config). */
export { MqttLink, readMqttSecrets } from './link.ts';
export type { DiscoveredSource, LinkStats, MqttLinkOptions } from './link.ts';
export { SpoolSender } from './sender.ts';
export type { SenderOptions, SenderStats } from './sender.ts';
export { connectMqtt } from './mqtt-adapter.ts';
export type { MqttConnection, MqttConnectOptions, MqttMessage } from './mqtt-adapter.ts';
