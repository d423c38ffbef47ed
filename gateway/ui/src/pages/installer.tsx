/**
 * Installer home: per site, the cameras the edge discovered — manufacturer, model, address —
 * each with a live snapshot pulled from the edge, so the installer sees what the camera sees,
 * and one large button to register it.
 */
import { useState } from 'preact/hooks';
import { discoveredSnapshotPath, listDiscovered, listSites } from '../api/client.ts';
import type { DiscoveredView } from '../api/types.ts';
import { ApiImage } from '../components/api-image.tsx';
import { ErrorBox, TopBar } from '../components/bits.tsx';
import { formatTime, t, type MessageKey } from '../i18n/index.ts';
import { useAsync, useInterval } from '../lib/hooks.ts';
import { href } from '../lib/router.ts';
import { useApp } from '../state.ts';

function Device({ d }: { d: DiscoveredView }) {
  const app = useApp();
  const registered = d.cameraId !== null ? app.camerasById.get(d.cameraId) : undefined;
  return (
    <li
      class="panel device"
      data-testid="discovered"
      data-serial={d.serialNumber}
      data-endpoint={d.endpointReference}
    >
      <div>
        {d.access === 'ok' ? (
          <ApiImage
            path={discoveredSnapshotPath(d)}
            refreshMs={2000}
            alt={t('installer.snapshotOf', { model: d.model })}
            class="frame"
          />
        ) : (
          <div class="img-missing">{t(`access.${d.access}` as MessageKey)}</div>
        )}
      </div>
      <div>
        <h2>
          {d.manufacturer} {d.model}
        </h2>
        <p>
          {t('installer.serial')}: <strong>{d.serialNumber || '—'}</strong>
        </p>
        <p>
          {t('installer.address')}:{' '}
          <span>
            {d.xaddrs.map((x) => x.replace(/^https?:\/\//, '').replace(/\/.*$/, '')).join(', ') || '—'}
          </span>
        </p>
        <p class="muted">
          {t('installer.access')}: {t(`access.${d.access}` as MessageKey)}
          {d.lastSeenMs !== null && ` · ${t('installer.seen', { at: formatTime(d.lastSeenMs) })}`}
        </p>
        {d.cameraId === null ? (
          <a
            class="button primary"
            href={href('/installer/register', { site: d.siteId, device: d.deviceKey })}
            data-testid="register"
          >
            {t('installer.register')}
          </a>
        ) : (
          <a class="button" href={href(`/installer/cameras/${d.cameraId}`)}>
            {t('installer.registeredAs', { name: registered?.name ?? d.cameraId })}
          </a>
        )}
      </div>
    </li>
  );
}

/** See the module comment. */
export function InstallerPage() {
  const sites = useAsync(() => listSites(), []);
  const [siteId, setSiteId] = useState('');
  const devices = useAsync(() => listDiscovered(siteId === '' ? undefined : siteId), [siteId]);
  useInterval(devices.reload, 10_000);
  const list = devices.data ?? [];
  const unregistered = list.filter((d) => d.cameraId === null);
  const registered = list.filter((d) => d.cameraId !== null);
  return (
    <section class="installer">
      <TopBar title={t('installer.title')}>
        <button type="button" onClick={devices.reload}>
          {t('common.refresh')}
        </button>
      </TopBar>
      <div class="form-row">
        <label>
          {t('field.site')}
          <select
            value={siteId}
            onChange={(e) => {
              setSiteId(e.currentTarget.value);
            }}
            data-testid="site-select"
          >
            <option value="">{t('installer.allSites')}</option>
            {(sites.data ?? []).map((s) => (
              <option key={s.siteId} value={s.siteId}>
                {s.name || s.siteId} ({t(`agent.${s.agent}`)})
              </option>
            ))}
          </select>
        </label>
      </div>
      <ErrorBox error={sites.error ?? devices.error} />
      <h2>{t('installer.new', { n: unregistered.length })}</h2>
      {unregistered.length === 0 && !devices.loading && <p class="muted">{t('installer.noneNew')}</p>}
      <ul style={{ listStyle: 'none', padding: 0 }}>
        {unregistered.map((d) => (
          <Device key={`${d.siteId}/${d.deviceKey}`} d={d} />
        ))}
      </ul>
      {registered.length > 0 && (
        <details>
          <summary>{t('installer.done', { n: registered.length })}</summary>
          <ul style={{ listStyle: 'none', padding: 0 }}>
            {registered.map((d) => (
              <Device key={`${d.siteId}/${d.deviceKey}`} d={d} />
            ))}
          </ul>
        </details>
      )}
    </section>
  );
}
