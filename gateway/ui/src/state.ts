/**
 * App-wide state shared by the pages through one context: the signed-in user, the cameras in
 * their scope (loaded once per session, refreshed on demand), UI settings, and the stated reason
 * of this search session.
 */
import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import type { CameraView, Me, UiConfig } from './api/types.ts';

/** What every page can read. */
export interface AppState {
  me: Me;
  cameras: CameraView[];
  camerasById: ReadonlyMap<string, CameraView>;
  /** Reload the camera list (after a registration, or on the overview's refresh). */
  refreshCameras(): Promise<void>;
  ui: UiConfig;
  /** The reason stated for this search session, if any. */
  reason: string | null;
  /**
   * The session's reason, prompting for it first when none is stated yet (or when `change`).
   * Rejects when the user cancels.
   */
  askReason(change?: boolean): Promise<string>;
}

/** The context (provided by app.tsx). */
export const AppContext = createContext<AppState | null>(null);

/** The app state; only under the signed-in shell. */
export function useApp(): AppState {
  const s = useContext(AppContext);
  if (s === null) throw new Error('useApp outside the signed-in app');
  return s;
}

const REASON_KEY = 'sharpeyes.reason';

/** The reason saved for this browser tab's session. */
export function loadReason(): string | null {
  try {
    return sessionStorage.getItem(REASON_KEY);
  } catch {
    return null;
  }
}

/** Save (or with null, forget) the session's reason. */
export function saveReason(reason: string | null): void {
  try {
    if (reason === null) sessionStorage.removeItem(REASON_KEY);
    else sessionStorage.setItem(REASON_KEY, reason);
  } catch {
    // Storage refused: the reason lives in memory for this page only.
    return;
  }
}
