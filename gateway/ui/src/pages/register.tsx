/**
 * Registering a discovered camera, in small steps with large targets (installers are field
 * workers): what it is (name, code), where it is in the hierarchy, where on the map and which
 * way it faces, what it is for and who owns it, what to detect and what to mask (drawn on the
 * live snapshot). Saving registers the camera and starts its analysis; the next page shows it
 * going active and its first detections.
 */
import { useMemo, useState } from 'preact/hooks';
import { discoveredSnapshotPath, listDiscovered, registerCamera, setLifecycle } from '../api/client.ts';
import {
  AREA_LEVELS,
  CAMERA_CATEGORIES,
  INBOUND_DIRECTIONS,
  type AreaLevel,
  type CameraCategory,
  type CameraRegistration,
  type DiscoveredView,
  type InboundDirection,
  type NormPoint,
  type Place,
} from '../api/types.ts';
import { ApiImage } from '../components/api-image.tsx';
import { scopeLabel } from '../components/area-tree.tsx';
import { ErrorBox, STATUS_COLOURS, TopBar } from '../components/bits.tsx';
import { MapView, type MapPoint } from '../components/map-view.tsx';
import { MaskEditor } from '../components/mask-editor.tsx';
import { t, type MessageKey } from '../i18n/index.ts';
import { useAsync } from '../lib/hooks.ts';
import { href, navigate, useRoute } from '../lib/router.ts';
import { useApp } from '../state.ts';

const STEPS = ['identity', 'place', 'position', 'use', 'detect', 'review'] as const;
type Step = (typeof STEPS)[number];

const HEADINGS: readonly [MessageKey, number][] = [
  ['compass.n', 0],
  ['compass.ne', 45],
  ['compass.e', 90],
  ['compass.se', 135],
  ['compass.s', 180],
  ['compass.sw', 225],
  ['compass.w', 270],
  ['compass.nw', 315],
];

/** A topic-safe camera id from a code (`[A-Za-z0-9._-]{1,64}`). */
export function cameraIdFromCode(code: string): string {
  return code
    .trim()
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 64);
}

interface Draft {
  name: string;
  code: string;
  place: Place;
  lat: string;
  lon: string;
  heading: number | null;
  category: CameraCategory | null;
  ownerKind: 'public' | 'organisation';
  organisation: string;
  agreement: string;
  plate: boolean;
  face: boolean;
  inbound: InboundDirection;
  masks: NormPoint[][];
}

function Choice<T extends string | number>({
  value,
  current,
  label,
  onPick,
}: {
  value: T;
  current: T | null;
  label: string;
  onPick: (v: T) => void;
}) {
  return (
    <button
      type="button"
      aria-pressed={value === current}
      onClick={() => {
        onPick(value);
      }}
    >
      {label}
    </button>
  );
}

function stepProblem(step: Step, d: Draft): MessageKey | null {
  switch (step) {
    case 'identity':
      if (d.name.trim() === '') return 'register.needName';
      if (cameraIdFromCode(d.code) === '') return 'register.needCode';
      return null;
    case 'place':
      return d.place.district.trim() === '' ? 'register.needDistrict' : null;
    case 'position': {
      if (d.lat === '' && d.lon === '') return null;
      const lat = Number(d.lat);
      const lon = Number(d.lon);
      return Number.isFinite(lat) && Number.isFinite(lon) && Math.abs(lat) <= 90 && Math.abs(lon) <= 180
        ? null
        : 'register.badPosition';
    }
    case 'use':
      if (d.category === null) return 'register.needCategory';
      if (d.ownerKind === 'organisation' && (d.organisation.trim() === '' || d.agreement.trim() === ''))
        return 'register.needOwner';
      return null;
    case 'detect':
      return d.plate || d.face ? null : 'register.needDetector';
    default:
      return null;
  }
}

function Wizard({ device }: { device: DiscoveredView }) {
  const app = useApp();
  const fixed = app.me.scope;
  const [step, setStep] = useState<Step>('identity');
  const [problem, setProblem] = useState<MessageKey | null>(null);
  const [error, setError] = useState<unknown>(undefined);
  const [saving, setSaving] = useState(false);
  const [d, setD] = useState<Draft>(() => ({
    name: '',
    code: '',
    place: {
      district: fixed.district ?? '',
      street: fixed.street ?? '',
      community: fixed.community ?? '',
      grid: fixed.grid ?? '',
    },
    lat: '',
    lon: '',
    heading: null,
    category: null,
    ownerKind: 'public',
    organisation: '',
    agreement: '',
    plate: true,
    face: false,
    inbound: 'unspecified',
    masks: [],
  }));
  const set = <K extends keyof Draft>(k: K, v: Draft[K]): void => {
    setD((x) => ({ ...x, [k]: v }));
  };
  const idx = STEPS.indexOf(step);
  const suggestions = useMemo(() => {
    const out: Record<AreaLevel, Set<string>> = {
      district: new Set(),
      street: new Set(),
      community: new Set(),
      grid: new Set(),
    };
    for (const c of app.cameras) for (const l of AREA_LEVELS) if (c.place[l] !== '') out[l].add(c.place[l]);
    return out;
  }, [app.cameras]);
  const snapshot = discoveredSnapshotPath(device);

  const next = (): void => {
    const p = stepProblem(step, d);
    setProblem(p);
    if (p === null && idx < STEPS.length - 1) setStep(STEPS[idx + 1] ?? step);
  };
  const back = (): void => {
    setProblem(null);
    if (idx > 0) setStep(STEPS[idx - 1] ?? step);
  };

  const save = async (): Promise<void> => {
    setSaving(true);
    setError(undefined);
    try {
      const position = d.lat === '' || d.lon === '' ? null : { lat: Number(d.lat), lon: Number(d.lon) };
      const reg: CameraRegistration = {
        siteId: device.siteId,
        cameraId: cameraIdFromCode(d.code),
        code: d.code.trim(),
        name: d.name.trim(),
        place: {
          district: d.place.district.trim(),
          street: d.place.street.trim(),
          community: d.place.community.trim(),
          grid: d.place.grid.trim(),
        },
        position,
        headingDeg: d.heading,
        category: d.category ?? 'other',
        owner:
          d.ownerKind === 'public'
            ? { kind: 'public' }
            : {
                kind: 'organisation',
                organisation: d.organisation.trim(),
                sharingAgreementRef: d.agreement.trim(),
              },
        endpointReference: device.endpointReference,
        serialNumber: device.serialNumber,
        manufacturer: device.manufacturer,
        model: device.model,
        xaddr: device.xaddrs[0] ?? '',
        detectors: { face: d.face, plate: d.plate },
        masks: d.masks,
        inbound: d.inbound,
      };
      const cam = await registerCamera(reg);
      const id = cam.cameraId || reg.cameraId;
      // Registered cameras are not analysed until active: saving means "start now".
      if (cam.lifecycle !== 'active') await setLifecycle(id, 'active');
      await app.refreshCameras();
      navigate(href(`/installer/cameras/${id}`, { saved: Date.now() }));
    } catch (err) {
      setError(err);
    } finally {
      setSaving(false);
    }
  };

  const pinPoints: MapPoint[] = [
    ...app.cameras.flatMap((c) =>
      c.position === null
        ? []
        : [
            {
              id: c.cameraId,
              lat: c.position.lat,
              lon: c.position.lon,
              colour: STATUS_COLOURS[c.status],
              label: c.name,
              title: c.name,
            },
          ],
    ),
    ...(d.lat !== '' && d.lon !== '' && Number.isFinite(Number(d.lat)) && Number.isFinite(Number(d.lon))
      ? [
          {
            id: '__pin',
            lat: Number(d.lat),
            lon: Number(d.lon),
            colour: '#ffe066',
            label: t('register.thisCamera'),
            title: t('register.thisCamera'),
          },
        ]
      : []),
  ];

  return (
    <section class="installer">
      <TopBar title={t('register.title', { model: `${device.manufacturer} ${device.model}` })}>
        <a class="button" href={href('/installer')}>
          {t('common.cancel')}
        </a>
      </TopBar>
      <ol class="steps">
        {STEPS.map((s, i) => (
          <li key={s} aria-current={s === step ? 'step' : undefined}>
            {i + 1}. {t(`register.step.${s}` as MessageKey)}
          </li>
        ))}
      </ol>
      <form
        class="panel"
        data-testid={`step-${step}`}
        onSubmit={(e) => {
          e.preventDefault();
          if (step === 'review') void save();
          else next();
        }}
      >
        {step === 'identity' && (
          <div class="device">
            <ApiImage path={snapshot} refreshMs={2000} alt={t('installer.snapshotAlt')} class="frame" />
            <div>
              <p class="muted">
                {device.manufacturer} {device.model} · {device.serialNumber}
              </p>
              <label>
                {t('register.name')}
                <input
                  name="name"
                  value={d.name}
                  autoFocus
                  placeholder={t('register.namePlaceholder')}
                  onInput={(e) => {
                    set('name', e.currentTarget.value);
                  }}
                />
              </label>
              <label>
                {t('register.code')}
                <input
                  name="code"
                  value={d.code}
                  placeholder={t('register.codePlaceholder')}
                  onInput={(e) => {
                    set('code', e.currentTarget.value);
                  }}
                />
              </label>
              <p class="muted">{t('register.codeHelp', { id: cameraIdFromCode(d.code) || '—' })}</p>
            </div>
          </div>
        )}
        {step === 'place' && (
          <div>
            {AREA_LEVELS.map((l) => (
              <label key={l}>
                {t(`level.${l}`)}
                <input
                  name={l}
                  list={`list-${l}`}
                  value={d.place[l]}
                  disabled={fixed[l] !== undefined}
                  onInput={(e) => {
                    set('place', { ...d.place, [l]: e.currentTarget.value });
                  }}
                />
                <datalist id={`list-${l}`}>
                  {[...suggestions[l]].map((v) => (
                    <option key={v} value={v} />
                  ))}
                </datalist>
              </label>
            ))}
            <p class="muted">{t('register.placeHelp')}</p>
          </div>
        )}
        {step === 'position' && (
          <div>
            <p class="muted">{t('register.pinHelp')}</p>
            <MapView
              points={pinPoints}
              tileUrl={app.ui.tileUrl}
              tileAttribution={app.ui.tileAttribution}
              tileMaxZoom={app.ui.tileMaxZoom}
              onPick={(lat, lon) => {
                setD((x) => ({ ...x, lat: String(lat), lon: String(lon) }));
              }}
              testId="pin-map"
            />
            <div class="form-row">
              <label>
                {t('register.lat')}
                <input
                  name="lat"
                  inputMode="decimal"
                  value={d.lat}
                  onInput={(e) => {
                    set('lat', e.currentTarget.value);
                  }}
                />
              </label>
              <label>
                {t('register.lon')}
                <input
                  name="lon"
                  inputMode="decimal"
                  value={d.lon}
                  onInput={(e) => {
                    set('lon', e.currentTarget.value);
                  }}
                />
              </label>
              {'geolocation' in navigator && (
                <button
                  type="button"
                  onClick={() => {
                    navigator.geolocation.getCurrentPosition((p) => {
                      setD((x) => ({
                        ...x,
                        lat: p.coords.latitude.toFixed(6),
                        lon: p.coords.longitude.toFixed(6),
                      }));
                    });
                  }}
                >
                  {t('register.here')}
                </button>
              )}
            </div>
            <h3>{t('register.heading')}</h3>
            <div class="choice-grid" role="group" aria-label={t('register.heading')}>
              {HEADINGS.map(([k, deg]) => (
                <Choice
                  key={deg}
                  value={deg}
                  current={d.heading}
                  label={`${t(k)} ${deg}°`}
                  onPick={(v) => {
                    set('heading', v);
                  }}
                />
              ))}
            </div>
          </div>
        )}
        {step === 'use' && (
          <div>
            <h3>{t('field.category')}</h3>
            <div class="choice-grid" role="group" aria-label={t('field.category')}>
              {CAMERA_CATEGORIES.map((c) => (
                <Choice
                  key={c}
                  value={c}
                  current={d.category}
                  label={t(`category.${c}` as MessageKey)}
                  onPick={(v) => {
                    set('category', v);
                  }}
                />
              ))}
            </div>
            <h3>{t('register.owner')}</h3>
            <div class="choice-grid" role="group" aria-label={t('register.owner')}>
              <Choice
                value="public"
                current={d.ownerKind}
                label={t('owner.public')}
                onPick={(v) => {
                  set('ownerKind', v);
                }}
              />
              <Choice
                value="organisation"
                current={d.ownerKind}
                label={t('owner.organisation')}
                onPick={(v) => {
                  set('ownerKind', v);
                }}
              />
            </div>
            {d.ownerKind === 'organisation' && (
              <div class="form-row">
                <label>
                  {t('owner.name')}
                  <input
                    name="organisation"
                    value={d.organisation}
                    onInput={(e) => {
                      set('organisation', e.currentTarget.value);
                    }}
                  />
                </label>
                <label>
                  {t('owner.agreement')}
                  <input
                    name="agreement"
                    value={d.agreement}
                    onInput={(e) => {
                      set('agreement', e.currentTarget.value);
                    }}
                  />
                </label>
              </div>
            )}
          </div>
        )}
        {step === 'detect' && (
          <div>
            <h3>{t('register.detectors')}</h3>
            <div class="choice-grid">
              <label class="inline">
                <input
                  type="checkbox"
                  name="plate"
                  checked={d.plate}
                  onChange={(e) => {
                    set('plate', e.currentTarget.checked);
                  }}
                />
                {t('kind.plate')}
              </label>
              <label class="inline">
                <input
                  type="checkbox"
                  name="face"
                  checked={d.face}
                  onChange={(e) => {
                    set('face', e.currentTarget.checked);
                  }}
                />
                {t('kind.face')}
              </label>
            </div>
            <h3>{t('register.inbound')}</h3>
            <div class="choice-grid" role="group" aria-label={t('register.inbound')}>
              {INBOUND_DIRECTIONS.map((v) => (
                <Choice
                  key={v}
                  value={v}
                  current={d.inbound}
                  label={t(`inbound.${v}` as MessageKey)}
                  onPick={(x) => {
                    set('inbound', x);
                  }}
                />
              ))}
            </div>
            <h3>{t('register.masks')}</h3>
            <MaskEditor
              snapshotPath={snapshot}
              masks={d.masks}
              onChange={(m) => {
                set('masks', m);
              }}
            />
          </div>
        )}
        {step === 'review' && (
          <dl data-testid="review">
            <dt>{t('register.name')}</dt>
            <dd>{d.name}</dd>
            <dt>{t('register.code')}</dt>
            <dd>
              {d.code} ({cameraIdFromCode(d.code)})
            </dd>
            <dt>{t('field.place')}</dt>
            <dd>{scopeLabel(d.place)}</dd>
            <dt>{t('register.step.position')}</dt>
            <dd>
              {d.lat === '' ? '—' : `${d.lat}, ${d.lon}`} · {d.heading === null ? '—' : `${d.heading}°`}
            </dd>
            <dt>{t('field.category')}</dt>
            <dd>
              {d.category === null ? '—' : t(`category.${d.category}` as MessageKey)} ·{' '}
              {d.ownerKind === 'public' ? t('owner.public') : `${d.organisation} (${d.agreement})`}
            </dd>
            <dt>{t('register.detectors')}</dt>
            <dd>
              {[d.plate && t('kind.plate'), d.face && t('kind.face')].filter(Boolean).join(', ')} ·{' '}
              {t(`inbound.${d.inbound}` as MessageKey)} · {t('register.maskCount', { n: d.masks.length })}
            </dd>
          </dl>
        )}
        {problem !== null && (
          <p class="error" role="alert">
            {t(problem)}
          </p>
        )}
        <ErrorBox error={error} />
        <div class="wizard-nav">
          {idx > 0 && (
            <button type="button" onClick={back}>
              {t('common.back')}
            </button>
          )}
          {step === 'review' ? (
            <button type="submit" class="primary" disabled={saving} data-testid="save">
              {saving ? t('common.saving') : t('register.save')}
            </button>
          ) : (
            <button type="submit" class="primary" data-testid="next">
              {t('common.next')}
            </button>
          )}
        </div>
      </form>
    </section>
  );
}

/** See the module comment. */
export function RegisterPage() {
  const route = useRoute();
  const siteId = route.query.get('site') ?? '';
  const key = route.query.get('device') ?? '';
  const res = useAsync(() => listDiscovered(siteId === '' ? undefined : siteId), [siteId]);
  const device = res.data?.find((d) => d.deviceKey === key && d.siteId === siteId);
  if (res.error !== undefined) return <ErrorBox error={res.error} />;
  if (res.data === undefined) return <p class="muted">{t('common.loading')}</p>;
  if (device === undefined) return <p class="error">{t('register.noDevice')}</p>;
  return <Wizard device={device} />;
}
