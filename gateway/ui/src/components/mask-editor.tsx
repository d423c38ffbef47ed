/**
 * Masks drawn on a camera's live snapshot: regions the detectors ignore (a road sign, a TV in a
 * shop window). Click (or tap) to add corners; "close shape" finishes a polygon. Keyboard: focus
 * the picture, move the cross with the arrow keys (Shift: bigger steps), Enter adds a corner,
 * Backspace removes the last one. Coordinates are normalised 0..1, as the edge expects them.
 */
import { useState } from 'preact/hooks';
import type { NormPoint } from '../api/types.ts';
import { t } from '../i18n/index.ts';
import { ApiImage } from './api-image.tsx';

/** Props of {@link MaskEditor}. */
export interface MaskEditorProps {
  snapshotPath: string;
  masks: NormPoint[][];
  onChange: (masks: NormPoint[][]) => void;
}

const clamp = (v: number): number => Math.min(1, Math.max(0, v));
const round = (v: number): number => Math.round(v * 1000) / 1000;

/** See the module comment. */
export function MaskEditor({ snapshotPath, masks, onChange }: MaskEditorProps) {
  const [draft, setDraft] = useState<NormPoint[]>([]);
  const [cursor, setCursor] = useState<NormPoint>({ x: 0.5, y: 0.5 });
  const add = (p: NormPoint): void => {
    setDraft((d) => [...d, { x: round(clamp(p.x)), y: round(clamp(p.y)) }]);
  };
  const close = (): void => {
    if (draft.length < 3) return;
    onChange([...masks, draft]);
    setDraft([]);
  };
  const onKey = (e: KeyboardEvent): void => {
    const step = e.shiftKey ? 0.1 : 0.02;
    const moves: Record<string, [number, number]> = {
      ArrowLeft: [-step, 0],
      ArrowRight: [step, 0],
      ArrowUp: [0, -step],
      ArrowDown: [0, step],
    };
    const mv = moves[e.key];
    if (mv !== undefined) {
      e.preventDefault();
      setCursor((c) => ({ x: clamp(c.x + mv[0]), y: clamp(c.y + mv[1]) }));
    } else if (e.key === 'Enter' || e.key === ' ') {
      e.preventDefault();
      add(cursor);
    } else if (e.key === 'Backspace') {
      e.preventDefault();
      setDraft((d) => d.slice(0, -1));
    }
  };
  return (
    <div>
      <div class="mask-editor">
        <ApiImage path={snapshotPath} alt={t('installer.snapshotAlt')} refreshMs={2000} class="frame" />
        <svg
          viewBox="0 0 1 1"
          preserveAspectRatio="none"
          tabIndex={0}
          role="application"
          aria-label={t('mask.canvasLabel', { n: draft.length })}
          data-testid="mask-canvas"
          onKeyDown={onKey}
          onClick={(e) => {
            const r = e.currentTarget.getBoundingClientRect();
            add({ x: (e.clientX - r.left) / r.width, y: (e.clientY - r.top) / r.height });
          }}
        >
          {masks.map((m, i) => (
            <polygon key={i} points={m.map((p) => `${p.x},${p.y}`).join(' ')} />
          ))}
          {draft.length > 0 && <polyline points={draft.map((p) => `${p.x},${p.y}`).join(' ')} />}
          {draft.map((p, i) => (
            <circle key={i} cx={p.x} cy={p.y} r={0.008} />
          ))}
          <path
            d={`M${cursor.x - 0.02},${cursor.y}H${cursor.x + 0.02}M${cursor.x},${cursor.y - 0.02}V${cursor.y + 0.02}`}
            stroke="#ffe066"
            stroke-width={0.004}
          />
        </svg>
      </div>
      <p class="muted">{t('mask.help')}</p>
      <div class="wizard-nav">
        <button type="button" onClick={close} disabled={draft.length < 3}>
          {t('mask.close')}
        </button>
        <button
          type="button"
          onClick={() => {
            setDraft((d) => d.slice(0, -1));
          }}
          disabled={draft.length === 0}
        >
          {t('mask.undo')}
        </button>
      </div>
      {masks.length > 0 && (
        <ul>
          {masks.map((m, i) => (
            <li key={i}>
              {t('mask.item', { n: i + 1, corners: m.length })}{' '}
              <button
                type="button"
                onClick={() => {
                  onChange(masks.filter((_, j) => j !== i));
                }}
              >
                {t('mask.remove')}
              </button>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
