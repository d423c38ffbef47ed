/**
 * Health: sites (agent online, last seen), cameras and areas (online share over 24 h, last seen,
 * ingest lag, dropped frames, share of events with evidence), and the collision report —
 * discovered but unregistered, missing, long offline and moved cameras.
 */
import { collisionReport, listSites, qualityReport } from '../api/client.ts';
import { scopeLabel } from '../components/area-tree.tsx';
import { ErrorBox, TopBar } from '../components/bits.tsx';
import { formatDuration, formatNumber, formatPercent, formatTime, t } from '../i18n/index.ts';
import { useAsync, useInterval } from '../lib/hooks.ts';
import { useApp } from '../state.ts';

const lag = (ms: number | null): string =>
  ms === null ? '—' : ms < 1000 ? `${formatNumber(ms)} ms` : formatDuration(ms);
const when = (ms: number | null): string => (ms === null ? t('health.never') : formatTime(ms));

/** See the module comment. */
export function HealthPage() {
  const app = useApp();
  const quality = useAsync(() => qualityReport(), []);
  const collision = useAsync(() => collisionReport(), []);
  const sites = useAsync(() => listSites(), []);
  useInterval(() => {
    quality.reload();
    collision.reload();
    sites.reload();
  }, 30_000);
  const siteList = sites.data ?? [];
  const q = quality.data;
  const c = collision.data;
  const name = (id: string): string => app.camerasById.get(id)?.name ?? id;
  return (
    <section>
      <TopBar title={t('health.title')}>
        <button
          type="button"
          onClick={() => {
            quality.reload();
            collision.reload();
            sites.reload();
          }}
        >
          {t('common.refresh')}
        </button>
      </TopBar>
      <ErrorBox error={quality.error} />
      {q !== undefined && (
        <>
          {siteList.length > 0 && (
            <div class="panel">
              <h2>{t('health.sites')}</h2>
              <table data-testid="sites">
                <thead>
                  <tr>
                    <th>{t('field.site')}</th>
                    <th>{t('field.place')}</th>
                    <th>{t('health.agent')}</th>
                    <th>{t('field.lastSeen')}</th>
                  </tr>
                </thead>
                <tbody>
                  {siteList.map((s) => (
                    <tr key={s.siteId}>
                      <td>{s.name || s.siteId}</td>
                      <td>{scopeLabel(s.place)}</td>
                      <td>
                        <span
                          class={`badge st-${s.agent === 'online' ? 'online' : s.agent === 'offline' ? 'offline' : 'unknown'}`}
                        >
                          {t(`agent.${s.agent}`)}
                        </span>
                      </td>
                      <td>{when(s.agentSeenMs)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
          <div class="panel">
            <h2>{t('health.areas')}</h2>
            <table data-testid="area-quality">
              <thead>
                <tr>
                  <th>{t('field.area')}</th>
                  <th class="num">{t('health.cameras')}</th>
                  <th class="num">{t('health.onlineNow')}</th>
                  <th class="num">{t('health.onlineShare')}</th>
                  <th>{t('field.lastSeen')}</th>
                  <th class="num">{t('health.lag')}</th>
                  <th class="num">{t('health.evidenceShare')}</th>
                </tr>
              </thead>
              <tbody>
                {q.areas.map((a) => (
                  <tr key={JSON.stringify(a.area)}>
                    <td>{scopeLabel(a.area)}</td>
                    <td class="num">{a.cameras}</td>
                    <td class="num">{a.camerasOnline}</td>
                    <td class="num">{formatPercent(a.onlineShare)}</td>
                    <td>{when(a.lastSeenMs)}</td>
                    <td class="num">{lag(a.ingestLagMs)}</td>
                    <td class="num">{formatPercent(a.evidenceShare)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <div class="panel">
            <h2>{t('health.camerasTitle')}</h2>
            <table data-testid="camera-quality">
              <thead>
                <tr>
                  <th>{t('field.camera')}</th>
                  <th>{t('field.place')}</th>
                  <th>{t('field.status')}</th>
                  <th class="num">{t('health.onlineShare')}</th>
                  <th>{t('field.lastSeen')}</th>
                  <th class="num">{t('health.lag')}</th>
                  <th class="num">{t('health.dropped')}</th>
                  <th class="num">{t('health.events')}</th>
                  <th class="num">{t('health.evidenceShare')}</th>
                </tr>
              </thead>
              <tbody>
                {q.cameras.map((cq) => (
                  <tr key={cq.cameraId} data-camera-id={cq.cameraId}>
                    <td>{name(cq.cameraId)}</td>
                    <td>{scopeLabel(cq.place)}</td>
                    <td>
                      <span
                        class={`badge st-${cq.onlineNow === null ? 'unknown' : cq.onlineNow ? 'online' : 'offline'}`}
                      >
                        {t(
                          cq.onlineNow === null
                            ? 'status.unknown'
                            : cq.onlineNow
                              ? 'status.online'
                              : 'status.offline',
                        )}
                      </span>
                    </td>
                    <td class="num">{formatPercent(cq.onlineShare)}</td>
                    <td>{when(cq.lastSeenMs)}</td>
                    <td class="num">{lag(cq.ingestLagMs)}</td>
                    <td class="num">{cq.droppedFrames === null ? '—' : formatNumber(cq.droppedFrames)}</td>
                    <td class="num">{formatNumber(cq.events)}</td>
                    <td class="num">{formatPercent(cq.evidenceShare)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      )}
      <div class="panel" data-testid="collision">
        <h2>{t('health.collision')}</h2>
        <ErrorBox error={collision.error} />
        {c !== undefined && (
          <>
            <p class="muted">{t('health.generated', { at: formatTime(c.generatedMs || Date.now()) })}</p>
            <h3>{t('health.unregistered', { n: c.unregistered.length })}</h3>
            {c.unregistered.length > 0 && (
              <ul>
                {c.unregistered.map((u) => (
                  <li key={`${u.siteId}/${u.serialNumber}/${u.xaddrs.join()}`}>
                    {u.siteId}: {u.manufacturer} {u.model} ({u.serialNumber}) — {u.xaddrs.join(', ')}
                  </li>
                ))}
              </ul>
            )}
            <h3>{t('health.missing', { n: c.missing.length })}</h3>
            {c.missing.length > 0 && (
              <ul>
                {c.missing.map((m) => (
                  <li key={m.cameraId}>
                    {name(m.cameraId)} ({m.siteId}) —{' '}
                    {m.reason === 'site_never_reported'
                      ? t('health.siteNeverReported')
                      : t('health.notDiscovered')}
                  </li>
                ))}
              </ul>
            )}
            <h3>{t('health.offline', { n: c.offline.length })}</h3>
            {c.offline.length > 0 && (
              <ul>
                {c.offline.map((o) => (
                  <li key={o.cameraId}>
                    {name(o.cameraId)} ({o.siteId}) — {o.state}
                    {o.offlineForMs !== null && `, ${formatDuration(o.offlineForMs)}`}
                    {o.lastError !== '' && ` — ${o.lastError}`}
                  </li>
                ))}
              </ul>
            )}
            <h3>{t('health.moved', { n: c.moved.length })}</h3>
            {c.moved.length > 0 && (
              <ul>
                {c.moved.map((m) => (
                  <li key={`${m.cameraId}/${m.kind}`}>
                    {name(m.cameraId)}:{' '}
                    {m.kind === 'site'
                      ? `${m.registeredSiteId} → ${m.seenSiteId}`
                      : `${m.fromXaddrs.join(', ')} → ${m.toXaddrs.join(', ')}`}{' '}
                    ({formatTime(m.sinceMs)})
                  </li>
                ))}
              </ul>
            )}
          </>
        )}
      </div>
    </section>
  );
}
