/** Sign-in, with the notice when a session has expired. */
import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import { login } from '../api/client.ts';
import { ApiError } from '../api/http.ts';
import type { Me } from '../api/types.ts';
import { t } from '../i18n/index.ts';

/** Props of {@link SignInPage}. */
export interface SignInProps {
  expired: boolean;
  onSignedIn: (me: Me) => void;
  children?: ComponentChildren;
}

/** See the module comment. */
export function SignInPage({ expired, onSignedIn, children }: SignInProps) {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    setBusy(true);
    setError('');
    try {
      onSignedIn(await login(username, password));
    } catch (err) {
      if (err instanceof ApiError && err.status === 429)
        setError(t('signin.rateLimited', { message: err.message }));
      else if (err instanceof ApiError && (err.status === 401 || err.status === 403))
        setError(t('signin.failed'));
      else setError(t('signin.unavailable', { message: err instanceof Error ? err.message : String(err) }));
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="main" style={{ maxWidth: '26rem', margin: '8vh auto' }}>
      <div class="panel">
        <h1>{t('app.title')}</h1>
        <p class="muted">{t('signin.subtitle')}</p>
        {expired && (
          <p class="notice" role="status" data-testid="session-expired">
            {t('signin.expired')}
          </p>
        )}
        <form onSubmit={(e) => void submit(e)} data-testid="signin-form">
          <div class="form-row">
            <label style={{ flex: 1 }}>
              {t('signin.username')}
              <input
                name="username"
                autoComplete="username"
                required
                value={username}
                onInput={(e) => {
                  setUsername(e.currentTarget.value);
                }}
              />
            </label>
          </div>
          <div class="form-row">
            <label style={{ flex: 1 }}>
              {t('signin.password')}
              <input
                name="password"
                type="password"
                autoComplete="current-password"
                required
                value={password}
                onInput={(e) => {
                  setPassword(e.currentTarget.value);
                }}
              />
            </label>
          </div>
          {error !== '' && (
            <p class="error" role="alert" data-testid="signin-error">
              {error}
            </p>
          )}
          <div class="form-row">
            <button type="submit" class="primary" disabled={busy}>
              {busy ? t('signin.busy') : t('signin.submit')}
            </button>
            {children}
          </div>
        </form>
      </div>
    </main>
  );
}
