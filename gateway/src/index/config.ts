/**
 * The `index` section of the gateway configuration (TypeBox; the TS type derived from it), and
 * its translation into {@link InfluxEventIndexOptions}. On disk: JSON, snake_case.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { InfluxEventIndexOptions } from './influx-index.ts';

const Days = (description: string, dflt: number) =>
  Type.Integer({ minimum: 1, maximum: 3650, default: dflt, description });

const Name = (description: string, dflt: string) =>
  Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]{0,63}$', default: dflt, description });

/** The default of `index.max_concurrent_queries` (what the api bench measures unless told otherwise). */
export const DEFAULT_MAX_CONCURRENT_QUERIES = 4;

export const IndexConfigSchema = Type.Object(
  {
    url: Type.String({
      pattern: '^https?://',
      default: 'http://127.0.0.1:8086',
      description: 'Base URL of InfluxDB’s v1 HTTP API (/write, /query).',
    }),
    database: Name('Database holding the event index; created at startup.', 'sharpeyes'),
    retention_days: Type.Object(
      {
        face: Days('How long face events are kept (retention policy duration).', 30),
        plate: Days('How long plate events are kept (retention policy duration).', 30),
      },
      {
        additionalProperties: false,
        default: {},
        description: 'Retention per kind; applied (created or altered) at startup.',
      },
    ),
    retention_policy_names: Type.Object(
      {
        face: Name('Retention policy of face events.', 'face'),
        plate: Name('Retention policy of plate events.', 'plate'),
      },
      { additionalProperties: false, default: {}, description: 'Retention policy names per kind.' },
    ),
    shard_duration_hours: Type.Integer({
      minimum: 1,
      maximum: 8760,
      default: 24,
      description:
        'Shard group length. Retention drops whole shard groups, so events live up to retention + this; a longer shard means fewer shards per search.',
    }),
    request_timeout_ms: Type.Integer({
      minimum: 100,
      maximum: 600_000,
      default: 10_000,
      description: 'Deadline of one request to InfluxDB.',
    }),
    max_concurrent_queries: Type.Integer({
      minimum: 0,
      maximum: 1000,
      default: DEFAULT_MAX_CONCURRENT_QUERIES,
      description:
        'Most queries sent to InfluxDB at once; the rest wait, those of a search already under way first, each in arrival order (0: no limit). influxd shares its cores among all the queries it runs: a few at a time finish the same work with a shorter tail.',
    }),
    max_search_range_days: Days('Longest time range of a search or statistics query.', 31),
    wildcard_max_range_hours: Type.Integer({
      minimum: 1,
      maximum: 24 * 366,
      default: 24 * 7,
      description: 'Longest time range of a wildcard plate search (it scans every plate in the range).',
    }),
    default_page_size: Type.Integer({
      minimum: 1,
      maximum: 10_000,
      default: 100,
      description: 'Search page size when none is given.',
    }),
    max_page_size: Type.Integer({
      minimum: 1,
      maximum: 10_000,
      default: 1000,
      description: 'Largest search page size.',
    }),
    event_id_time_slack_ms: Type.Integer({
      minimum: 0,
      maximum: 7 * 86_400_000,
      default: 3_600_000,
      description:
        'getEvent looks this far either side of the time in a ULID event id when the event is not at that exact millisecond.',
    }),
  },
  { additionalProperties: false, description: 'The InfluxDB event index.' },
);

/** The `index` section, defaults applied. */
export type IndexConfig = Static<typeof IndexConfigSchema>;

/** Options of the index from its configuration section (logger and metrics added by the app). */
export function indexOptionsFromConfig(c: IndexConfig): InfluxEventIndexOptions {
  return {
    url: c.url,
    database: c.database,
    retentionDays: { face: c.retention_days.face, plate: c.retention_days.plate },
    retentionPolicyNames: { face: c.retention_policy_names.face, plate: c.retention_policy_names.plate },
    shardDurationHours: c.shard_duration_hours,
    requestTimeoutMs: c.request_timeout_ms,
    maxConcurrentQueries: c.max_concurrent_queries,
    maxSearchRangeDays: c.max_search_range_days,
    wildcardMaxRangeHours: c.wildcard_max_range_hours,
    defaultPageSize: c.default_page_size,
    maxPageSize: c.max_page_size,
    eventIdTimeSlackMs: c.event_id_time_slack_ms,
  };
}
