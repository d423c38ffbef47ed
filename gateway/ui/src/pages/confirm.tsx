/**
 * After saving: the installer watches the camera go active, its frames arrive at the edge, and
 * its first detections reach the gateway — which confirms the install. Detections are counted
 * with pass statistics (installers see counts, never plate text or crops).
 */
import { discoveredSnapshotPath, getCamera, listDiscovered, passStats } from '../api/client.ts';
import { ApiImage } from '../components/api-image.tsx';
import { scopeLabel } from '../components/area-tree.tsx';
import { ErrorBox, StatusBadge, TopBar } from '../components/bits.tsx';
import { formatTime, t } from '../i18n/index.ts';
import { useAsync, useInterval } from '../lib/hooks.ts';
import { href, useRoute } from '../lib/router.ts';

const MINUTE = 60_000;

function Check({
  done,
  label,
  detail,
  testId,
}: {
  done: boolean;
  label: string;
  detail?: string;
  testId: string;
}) {
  return (
    <li data-testid={testId} data-done={done} style={{ fontSize: '1.15rem', margin: '0.5rem 0' }}>
      {/* Drawn by CSS, not an emoji: command-centre machines often have no emoji font. */}
      <span class={done ? 'step-mark done' : 'step-mark'} aria-hidden="true" />
      <strong>{label}</strong> <span class="muted">— {done ? t('confirm.yes') : t('confirm.waiting')}</span>
      {detail !== undefined && <div class="muted">{detail}</div>}
    </li>
  );
}

/** See the module comment. */
export function ConfirmPage({ cameraId }: { cameraId: string }) {
  const route = useRoute();
  const savedMs = Number(route.query.get('saved') ?? '') || Date.now() - 10 * MINUTE;
  // Stats intervals are whole minutes: start at the minute of saving.
  const fromMs = Math.floor(savedMs / MINUTE) * MINUTE;
  const cam = useAsync(() => getCamera(cameraId), [cameraId]);
  const passes = useAsync(async () => {
    const rows = await passStats({
      fromMs,
      toMs: Date.now() + MINUTE,
      intervalMs: MINUTE,
      cameraIds: [cameraId],
    });
    const withPasses = rows.filter((r) => r.total > 0).sort((a, b) => a.startMs - b.startMs);
    return { total: withPasses.reduce((s, r) => s + r.total, 0), firstMs: withPasses[0]?.startMs ?? null };
  }, [cameraId, fromMs]);
  const devices = useAsync(() => listDiscovered(), []);
  useInterval(() => {
    cam.reload();
    passes.reload();
  }, 2000);
  const c = cam.data;
  const device = devices.data?.find((d) => d.cameraId === cameraId);
  const p = passes.data;
  return (
    <section class="installer">
      <TopBar title={t('confirm.title', { name: c?.name ?? cameraId })}>
        <a class="button" href={href('/installer')}>
          {t('confirm.backToList')}
        </a>
      </TopBar>
      <ErrorBox error={cam.error} />
      <div class="device">
        <div>
          {device !== undefined && (
            <ApiImage
              path={discoveredSnapshotPath(device)}
              refreshMs={2000}
              alt={t('installer.snapshotAlt')}
              class="frame"
            />
          )}
        </div>
        <div class="panel">
          {c !== undefined && (
            <p>
              {c.code} · {scopeLabel(c.place)} · <StatusBadge status={c.status} />
            </p>
          )}
          <ul style={{ listStyle: 'none', padding: 0 }} data-testid="confirm-steps">
            <Check done={c !== undefined} label={t('confirm.saved')} testId="check-saved" />
            <Check
              done={c?.lifecycle === 'active'}
              label={t('confirm.active')}
              detail={c === undefined ? undefined : t(`lifecycle.${c.lifecycle}`)}
              testId="check-active"
            />
            <Check
              done={c?.status === 'online' || c?.status === 'degraded'}
              label={t('confirm.frames')}
              detail={
                c === undefined || c.lastSeenMs === null
                  ? undefined
                  : t('confirm.lastFrame', { at: formatTime(c.lastSeenMs) })
              }
              testId="check-frames"
            />
            <Check
              done={p !== undefined && p.total > 0}
              label={t('confirm.detections')}
              detail={
                p === undefined || p.total === 0
                  ? undefined
                  : t('confirm.detectionCount', { n: p.total, at: formatTime(p.firstMs ?? 0) })
              }
              testId="check-detections"
            />
          </ul>
          <ErrorBox error={passes.error} />
          {p !== undefined && p.total > 0 && c?.lifecycle === 'active' && (
            <p class="ok-box" role="status" data-testid="install-confirmed">
              {t('confirm.done')}
            </p>
          )}
        </div>
      </div>
    </section>
  );
}
