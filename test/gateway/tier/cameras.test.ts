/**
 * The tier cameras message, both ways, on real registries (SQLite in temp dirs): what a lower
 * tier publishes, and how the upper tier imports it (sites, cameras, places, lifecycle, the
 * tier's site list as the filter).
 */
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { SYSTEM_ACTOR } from '../../../gateway/src/audit/log.ts';
import { Registry } from '../../../gateway/src/registry/index.ts';
import { importTierCameras, tierCamerasOf } from '../../../gateway/src/tier/cameras.ts';
import { openTestDb, type TestDb } from '../registry/helpers.ts';

const log = pino({ level: 'silent' });
const PLACE = { district: '青山区', street: '白石镇', community: '白石村', grid: 'G3' };
const open: TestDb[] = [];
afterEach(() => {
  for (const t of open.splice(0)) t.close();
});

function registry(): Registry {
  const t = openTestDb('tier');
  open.push(t);
  return new Registry(t.db, t.audit, { now: t.clock.now });
}

async function lowerTier(): Promise<Registry> {
  const r = registry();
  await r.sites.create(SYSTEM_ACTOR, { siteId: 'v-1', name: 'village 1', place: PLACE });
  await r.sites.create(SYSTEM_ACTOR, { siteId: 'v-9', name: 'village 9', place: { district: '河西区' } });
  for (const [id, site] of [
    ['c-1', 'v-1'],
    ['c-2', 'v-1'],
    ['c-9', 'v-9'],
  ] as const) {
    r.cameras.create(SYSTEM_ACTOR, {
      cameraId: id,
      siteId: site,
      code: id.toUpperCase(),
      name: id,
      place: site === 'v-1' ? PLACE : { district: '河西区' },
      category: 'village_entrance',
      xaddr: `http://192.0.2.1/${id}`,
    });
  }
  r.cameras.transition(SYSTEM_ACTOR, 'c-1', 'active');
  return r;
}

describe('tier cameras', () => {
  it('lists the lower tier’s cameras with places, site and lifecycle', async () => {
    const msg = tierCamerasOf(await lowerTier(), 'qingshan', 5);
    expect(msg.tierId).toBe('qingshan');
    expect(msg.cameras.map((c) => [c.cameraId, c.siteId, c.active]).sort()).toEqual([
      ['c-1', 'v-1', true],
      ['c-2', 'v-1', false],
      ['c-9', 'v-9', false],
    ]);
    expect(msg.cameras.find((c) => c.cameraId === 'c-1')).toMatchObject({
      place: PLACE,
      siteName: 'village 1',
      sitePlace: PLACE,
      xaddr: 'http://192.0.2.1/c-1',
    });
  });

  it('imports only the listed sites, then follows moves and lifecycle', async () => {
    const lower = await lowerTier();
    const upper = registry();
    const tier = { tierId: 'qingshan', sites: new Set(['v-1']) };
    const first = await importTierCameras(upper, tier, tierCamerasOf(lower, 'qingshan', 1), log);
    expect(first).toEqual({ sitesCreated: 1, camerasCreated: 2, camerasUpdated: 0, skipped: 1 });
    expect(upper.sites.get('v-9')).toBeUndefined();
    expect(upper.cameras.get('c-1')?.lifecycle).toBe('active');
    expect(upper.cameras.get('c-2')?.lifecycle).toBe('registered');
    expect(upper.cameraIdsInScope({ district: PLACE.district }).sort()).toEqual(['c-1', 'c-2']);

    // Again, unchanged: nothing to do.
    const again = await importTierCameras(upper, tier, tierCamerasOf(lower, 'qingshan', 2), log);
    expect(again).toEqual({ sitesCreated: 0, camerasCreated: 0, camerasUpdated: 0, skipped: 1 });

    lower.cameras.update(SYSTEM_ACTOR, 'c-2', { place: { ...PLACE, grid: 'G4' }, name: 'moved' });
    lower.cameras.transition(SYSTEM_ACTOR, 'c-1', 'registered');
    lower.cameras.transition(SYSTEM_ACTOR, 'c-2', 'active');
    const moved = await importTierCameras(upper, tier, tierCamerasOf(lower, 'qingshan', 3), log);
    expect(moved.camerasUpdated).toBe(1);
    expect(upper.cameras.get('c-2')).toMatchObject({ name: 'moved', lifecycle: 'active' });
    expect(upper.cameras.get('c-2')?.place.grid).toBe('G4');
    expect(upper.cameras.get('c-1')?.lifecycle).toBe('registered');
  });
});
