/** SQLite schema of the registry: sites, cameras, maintenance, config revisions, edge reports. */
import type { Migration } from './sqlite.ts';

/** Migrations of the registry module. */
export const REGISTRY_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'sites, cameras, maintenance, site_configs, discovered, status changes',
    sql: `
      CREATE TABLE sites (
        site_id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        district TEXT NOT NULL,
        street TEXT NOT NULL,
        community TEXT NOT NULL,
        grid TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('active', 'disabled')),
        mqtt_password_hash TEXT NOT NULL,
        mosquitto_password_hash TEXT NOT NULL,
        agent TEXT NOT NULL DEFAULT 'unknown' CHECK (agent IN ('online', 'offline', 'unknown')),
        agent_seen_ms INTEGER,
        agent_config_revision INTEGER NOT NULL DEFAULT 0,
        created_ms INTEGER NOT NULL,
        updated_ms INTEGER NOT NULL,
        credentials_rotated_ms INTEGER NOT NULL
      );
      CREATE TABLE cameras (
        camera_id TEXT PRIMARY KEY,
        site_id TEXT NOT NULL REFERENCES sites (site_id),
        code TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        district TEXT NOT NULL,
        street TEXT NOT NULL,
        community TEXT NOT NULL,
        grid TEXT NOT NULL,
        latitude REAL,
        longitude REAL,
        heading_deg REAL,
        lanes INTEGER,
        coverage TEXT NOT NULL,
        category TEXT NOT NULL CHECK (category IN ('village_entrance', 'road_checkpoint', 'key_area', 'public_place', 'other')),
        owner_kind TEXT NOT NULL CHECK (owner_kind IN ('public', 'organisation')),
        owner_organisation TEXT NOT NULL,
        sharing_agreement_ref TEXT NOT NULL,
        endpoint_reference TEXT NOT NULL,
        serial_number TEXT NOT NULL,
        manufacturer TEXT NOT NULL,
        model TEXT NOT NULL,
        xaddr TEXT NOT NULL,
        profile_token TEXT NOT NULL,
        cap_face INTEGER NOT NULL,
        cap_plate INTEGER NOT NULL,
        analysis TEXT NOT NULL,
        lifecycle TEXT NOT NULL CHECK (lifecycle IN ('discovered', 'registered', 'active', 'retired')),
        temporary_start_ms INTEGER,
        temporary_end_ms INTEGER,
        credentials_username TEXT,
        credentials_password TEXT,
        created_ms INTEGER NOT NULL,
        updated_ms INTEGER NOT NULL,
        lifecycle_changed_ms INTEGER NOT NULL
      );
      CREATE INDEX cameras_site ON cameras (site_id);
      CREATE INDEX cameras_place ON cameras (district, street, community, grid);
      CREATE UNIQUE INDEX cameras_endpoint_reference ON cameras (endpoint_reference)
        WHERE endpoint_reference <> '' AND lifecycle <> 'retired';
      CREATE UNIQUE INDEX cameras_serial ON cameras (manufacturer, serial_number)
        WHERE serial_number <> '' AND lifecycle <> 'retired';
      CREATE TABLE camera_maintenance (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        camera_id TEXT NOT NULL REFERENCES cameras (camera_id),
        time_ms INTEGER NOT NULL,
        actor TEXT NOT NULL,
        kind TEXT NOT NULL,
        note TEXT NOT NULL
      );
      CREATE INDEX camera_maintenance_camera ON camera_maintenance (camera_id, time_ms);
      CREATE TABLE site_configs (
        site_id TEXT PRIMARY KEY REFERENCES sites (site_id),
        revision INTEGER NOT NULL,
        content_sha256 TEXT NOT NULL,
        updated_ms INTEGER NOT NULL
      );
      CREATE TABLE discovered (
        site_id TEXT PRIMARY KEY REFERENCES sites (site_id),
        payload BLOB NOT NULL,
        updated_ms INTEGER NOT NULL,
        received_ms INTEGER NOT NULL
      );
      CREATE TABLE camera_status_changes (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        camera_id TEXT NOT NULL,
        at_ms INTEGER NOT NULL,
        state TEXT NOT NULL,
        online INTEGER
      );
      CREATE INDEX camera_status_changes_camera ON camera_status_changes (camera_id, at_ms);
      CREATE TABLE camera_addresses (
        camera_id TEXT PRIMARY KEY,
        xaddrs TEXT NOT NULL,
        since_ms INTEGER NOT NULL,
        previous_xaddrs TEXT NOT NULL,
        changed_ms INTEGER
      );
      CREATE TABLE camera_last_seen (
        camera_id TEXT PRIMARY KEY,
        last_seen_ms INTEGER NOT NULL,
        last_frame_ms INTEGER NOT NULL,
        state TEXT NOT NULL
      );
    `,
  },
  {
    version: 2,
    name: 'area_copies: since when the index holds complete per-district copies',
    sql: `
      CREATE TABLE area_copies (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        since_ms INTEGER
      );
    `,
  },
];
