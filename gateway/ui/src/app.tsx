/**
 * The app: sign-in until a session exists, then the shell (nav for the role, the routed page,
 * the reason prompt). A 401 from any call ends the session in the UI and shows sign-in with a
 * "session expired" notice, returning to the same page after signing in again.
 */
import { useCallback, useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { getUiConfig, listCamerasWithStatus, logout, whoAmI } from './api/client.ts';
import { ApiError, onSessionExpired } from './api/http.ts';
import type { CameraView, Me, UiConfig } from './api/types.ts';
import { LOCALES, locale, setLocale, t, type Locale } from './i18n/index.ts';
import { href, matchPath, navigate, useRoute } from './lib/router.ts';
import { PAGES, homeFor, type PageDef } from './pages.ts';
import { AlertsPage } from './pages/alerts.tsx';
import { AuditPage } from './pages/audit.tsx';
import { ConfirmPage } from './pages/confirm.tsx';
import { EntriesPage } from './pages/entries.tsx';
import { EventPage } from './pages/event.tsx';
import { HealthPage } from './pages/health.tsx';
import { InstallerPage } from './pages/installer.tsx';
import { OverviewPage } from './pages/overview.tsx';
import { RegisterPage } from './pages/register.tsx';
import { SearchPage } from './pages/search.tsx';
import { SignInPage } from './pages/signin.tsx';
import { StatsPage } from './pages/stats.tsx';
import { WallPage } from './pages/wall.tsx';
import { ReasonDialog } from './components/reason-dialog.tsx';
import { AppContext, loadReason, saveReason, type AppState } from './state.ts';

function LanguageSwitch({ onChange }: { onChange: () => void }) {
  return (
    <label class="inline">
      <span>{t('app.language')}</span>
      <select
        value={locale()}
        data-testid="language"
        onChange={(e) => {
          setLocale(e.currentTarget.value as Locale);
          onChange();
        }}
      >
        {LOCALES.map((l) => (
          <option key={l} value={l}>
            {l === 'zh-CN' ? '中文' : 'English'}
          </option>
        ))}
      </select>
    </label>
  );
}

function renderPage(page: PageDef, params: Record<string, string>) {
  switch (page.id) {
    case 'overview':
      return <OverviewPage />;
    case 'wall':
      return <WallPage />;
    case 'search':
      return <SearchPage />;
    case 'event':
      return <EventPage eventId={params.id ?? ''} />;
    case 'alerts':
      return <AlertsPage />;
    case 'entries':
      return <EntriesPage />;
    case 'stats':
      return <StatsPage />;
    case 'health':
      return <HealthPage />;
    case 'installer':
      return <InstallerPage />;
    case 'register':
      return <RegisterPage />;
    case 'confirm':
      return <ConfirmPage cameraId={params.id ?? ''} />;
    case 'audit':
      return <AuditPage />;
    default:
      return null;
  }
}

type Session =
  { state: 'checking' } | { state: 'signed-out'; expired: boolean } | { state: 'signed-in'; me: Me };

/** The root component. */
export function App() {
  const [, setLang] = useState(0);
  const [session, setSession] = useState<Session>({ state: 'checking' });
  const [cameras, setCameras] = useState<CameraView[]>([]);
  const [ui, setUi] = useState<UiConfig>({ tileUrl: '', tileAttribution: '', tileMaxZoom: 18 });
  const [reason, setReason] = useState<string | null>(loadReason);
  const [asking, setAsking] = useState<{ resolve: (r: string) => void; reject: (e: Error) => void } | null>(
    null,
  );
  const returnTo = useRef<string | null>(null);
  const route = useRoute();
  useEffect(() => {
    document.title = t('app.title');
  });

  const rerender = useCallback(() => {
    setLang((n) => n + 1);
  }, []);

  const refreshCameras = useCallback(async () => {
    setCameras(await listCamerasWithStatus());
  }, []);

  const signedIn = useCallback(
    (me: Me) => {
      setSession({ state: 'signed-in', me });
      void getUiConfig().then(setUi);
      refreshCameras().catch(() => {
        // Pages show their own errors; an empty list is the honest state here.
        setCameras([]);
      });
      const back = returnTo.current;
      returnTo.current = null;
      const allowed = (path: string): boolean =>
        PAGES.some((p) => matchPath(p.path, path) !== undefined && p.roles.includes(me.role));
      const current = route.path;
      if (back !== null && allowed(back.replace(/^#/, '').split('?')[0] ?? '')) navigate(back, true);
      else if (!allowed(current)) navigate(homeFor(me.role), true);
    },
    [refreshCameras, route.path],
  );

  useEffect(() => {
    whoAmI().then(signedIn, (err: unknown) => {
      setSession({ state: 'signed-out', expired: false });
      if (!(err instanceof ApiError) || err.status !== 401) console.warn('session check failed', err);
    });
    // Only once, at start.
  }, []);

  useEffect(
    () =>
      onSessionExpired(() => {
        setSession((s) => {
          if (s.state !== 'signed-in') return s;
          returnTo.current = location.hash;
          return { state: 'signed-out', expired: true };
        });
        asking?.reject(new Error('session ended'));
        setAsking(null);
      }),
    [asking],
  );

  // The absolute expiry is known: end the session in the UI when it comes, even if idle.
  const expiresMs = session.state === 'signed-in' ? session.me.expiresMs : null;
  useEffect(() => {
    if (expiresMs === null) return undefined;
    const id = setTimeout(
      () => {
        whoAmI().catch(() => {
          setSession({ state: 'signed-out', expired: true });
        });
      },
      Math.max(0, Math.min(expiresMs - Date.now() + 1000, 2 ** 31 - 1)),
    );
    return () => {
      clearTimeout(id);
    };
  }, [expiresMs]);

  const askReason = useCallback(
    (change = false): Promise<string> => {
      if (!change && reason !== null) return Promise.resolve(reason);
      return new Promise<string>((resolve, reject) => {
        setAsking({ resolve, reject });
      });
    },
    [reason],
  );

  const state = useMemo<AppState | null>(
    () =>
      session.state === 'signed-in'
        ? {
            me: session.me,
            cameras,
            camerasById: new Map(cameras.map((c) => [c.cameraId, c])),
            refreshCameras,
            ui,
            reason,
            askReason,
          }
        : null,
    [session, cameras, refreshCameras, ui, reason, askReason],
  );

  if (session.state === 'checking') return <p class="main muted">{t('common.loading')}</p>;
  if (session.state === 'signed-out' || state === null) {
    return (
      <SignInPage expired={session.state === 'signed-out' && session.expired} onSignedIn={signedIn}>
        <LanguageSwitch onChange={rerender} />
      </SignInPage>
    );
  }

  const me = state.me;
  const mine = PAGES.filter((p) => p.roles.includes(me.role));
  let page: PageDef | undefined;
  let params: Record<string, string> = {};
  for (const p of PAGES) {
    const m = matchPath(p.path, route.path);
    if (m !== undefined) {
      page = p;
      params = m;
      break;
    }
  }
  const allowed = page !== undefined && page.roles.includes(me.role);
  if (route.path === '/' || page === undefined) {
    navigate(homeFor(me.role), true);
  }

  const signOut = async (): Promise<void> => {
    try {
      await logout();
    } finally {
      saveReason(null);
      setReason(null);
      setSession({ state: 'signed-out', expired: false });
    }
  };

  return (
    <AppContext.Provider value={state}>
      <a
        class="skip-link"
        href="#main"
        onClick={(e) => {
          e.preventDefault();
          document.getElementById('main')?.focus();
        }}
      >
        {t('app.skip')}
      </a>
      <div class="shell">
        <nav class="nav" aria-label={t('app.navLabel')}>
          <div class="brand">{t('app.title')}</div>
          {mine
            .filter((p) => p.nav)
            .map((p) => (
              <a
                key={p.id}
                href={href(p.path)}
                aria-current={page?.id === p.id ? 'page' : undefined}
                data-nav={p.id}
              >
                {t(p.label)}
              </a>
            ))}
          <div class="spacer" />
          <div class="who" data-testid="who">
            {t('app.signedInAs', { name: me.displayName, role: t(`role.${me.role}`) })}
          </div>
          <LanguageSwitch onChange={rerender} />
          <button type="button" onClick={() => void signOut()} data-testid="sign-out">
            {t('app.signOut')}
          </button>
        </nav>
        <main class="main" id="main" tabIndex={-1}>
          {page !== undefined && allowed ? (
            renderPage(page, params)
          ) : (
            <p class="notice">{t('app.notForRole')}</p>
          )}
        </main>
      </div>
      {asking !== null && (
        <ReasonDialog
          initial={reason ?? ''}
          onSubmit={(r) => {
            saveReason(r);
            setReason(r);
            asking.resolve(r);
            setAsking(null);
          }}
          onCancel={() => {
            asking.reject(new Error(t('reason.cancelled')));
            setAsking(null);
          }}
        />
      )}
    </AppContext.Provider>
  );
}
