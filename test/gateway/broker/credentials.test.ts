/** Password hashes (scrypt and Mosquitto's $7$) and the sites file store. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  hashMosquitto,
  hashScrypt,
  hashSitePassword,
  isPasswordHash,
  verifyPassword,
} from '../../../gateway/src/broker/passwords.ts';
import {
  parseSitesFile,
  SitesFileCredentialStore,
  StaticSiteCredentialStore,
} from '../../../gateway/src/broker/sites-file.ts';
import { isGatewayError } from '../../../gateway/src/errors.ts';
import { makeTempDir } from '../../bench/lifetime.ts';

const dir = makeTempDir('gateway-credentials');
afterAll(() => {
  dir.remove();
});

const pw = (s: string): Uint8Array => Buffer.from(s, 'utf8');

describe('password hashes', () => {
  it('verifies scrypt and $7$ hashes of the right password only', async () => {
    const s = await hashScrypt('correct horse');
    const m = await hashMosquitto('correct horse', 101);
    expect(s).toMatch(/^\$scrypt\$ln=14,r=8,p=1\$/);
    expect(m).toMatch(/^\$7\$101\$[A-Za-z0-9+/]{16}\$[A-Za-z0-9+/]{86}==$/);
    for (const h of [s, m]) {
      expect(await verifyPassword(pw('correct horse'), h)).toBe(true);
      expect(await verifyPassword(pw('correct horse '), h)).toBe(false);
      expect(await verifyPassword(pw(''), h)).toBe(false);
    }
  });

  it('verifies a hash made by mosquitto_passwd (Mosquitto 2.0)', async () => {
    // `mosquitto_passwd -c -b FILE alice secret` on this machine.
    const line =
      '$7$101$1CSGgy+XivQ7GJM/$g2AxnLk0mHSTiOGvLHUkGt4CvN+uA8BKuULsLvtB4XJefQZVwXfZ9PKkQvg84f/8QRxtToXFP9lnpXp/MxMCvg==';
    expect(await verifyPassword(pw('secret'), line)).toBe(true);
    expect(await verifyPassword(pw('Secret'), line)).toBe(false);
  });

  it.each([
    '',
    'plain',
    '$7$$abc$def',
    '$7$0$AAAA$AAAA',
    '$7$99999999$AAAA$AAAA',
    '$scrypt$ln=30,r=8,p=1$AAAA$AAAA',
    '$scrypt$ln=14,r=8,p=1$$',
    '$6$rounds=5000$abc$def',
  ])('refuses the malformed or unknown hash %j', async (h) => {
    expect(isPasswordHash(h)).toBe(false);
    expect(await verifyPassword(pw('x'), h)).toBe(false);
  });
});

describe('sites file', () => {
  it('lists every problem at once', () => {
    let err: unknown;
    try {
      parseSitesFile({
        sites: [
          { site_id: 'a/b', password_hash: '$7$101$AAAA$AAAA' },
          { site_id: 'ok-1', password_hash: 'nope' },
          {
            site_id: 'ok-1',
            password_hash: '$7$101$AAAA$AAAA',
            mosquitto_password_hash: '$scrypt$ln=14,r=8,p=1$AA$AA',
          },
        ],
      });
    } catch (e) {
      err = e;
    }
    expect(isGatewayError(err, 'GATEWAY_ERR_SITES_FILE')).toBe(true);
    expect((err as Error).message).toMatch(/\/sites\/0\/site_id/);
    expect(() => parseSitesFile({ sites: [], extra: 1 })).toThrow(/extra|additional/i);
  });

  it('verifies sites, refuses disabled ones, and reloads', async () => {
    const a = await hashSitePassword('pw-a');
    const file = join(dir.path, 'sites.json');
    writeFileSync(
      file,
      JSON.stringify({
        sites: [
          {
            site_id: 'site-a',
            password_hash: a.passwordHash,
            mosquitto_password_hash: a.mosquittoPasswordHash,
          },
          { site_id: 'site-b', password_hash: a.mosquittoPasswordHash, enabled: false },
        ],
      }),
    );
    const store = new SitesFileCredentialStore(file);
    expect(await store.verify('site-a', pw('pw-a'))).toEqual({ kind: 'site', siteId: 'site-a' });
    expect(await store.verify('site-a', pw('pw-a'))).toEqual({ kind: 'site', siteId: 'site-a' });
    expect(await store.verify('site-a', pw('pw-b'))).toBeUndefined();
    expect(await store.verify('site-b', pw('pw-a'))).toBeUndefined();
    expect(await store.verify('../site-a', pw('pw-a'))).toBeUndefined();
    writeFileSync(
      file,
      JSON.stringify({ sites: [{ site_id: 'site-a', password_hash: a.passwordHash, enabled: false }] }),
    );
    store.reload();
    // The remembered verification is gone with the reload.
    expect(await store.verify('site-a', pw('pw-a'))).toBeUndefined();
    writeFileSync(file, '{ not json');
    expect(() => {
      store.reload();
    }).toThrow(/not valid JSON/);
    expect(store.list()).toHaveLength(1);
  });

  it('answers from the list in force', async () => {
    const store = new StaticSiteCredentialStore([]);
    expect(await store.verify('site-a', pw('x'))).toBeUndefined();
  });
});
