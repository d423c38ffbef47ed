/**
 * The location hierarchy (district / street / community / grid) of a set of cameras, with the
 * number of cameras and the share online at each node. Selecting a node narrows the map beside
 * it. Built from native <details>/<button> so it works with the keyboard as it is.
 */
import { useMemo } from 'preact/hooks';
import { AREA_LEVELS, type AreaScope, type CameraView } from '../api/types.ts';
import { formatPercent, t } from '../i18n/index.ts';

/** A node of the tree. */
export interface AreaNode {
  name: string;
  scope: AreaScope;
  cameras: number;
  online: number;
  /** Cameras with a known status. */
  known: number;
  children: AreaNode[];
}

/** The tree of `cameras` (levels a camera leaves empty end its branch there). */
export function buildAreaTree(cameras: readonly CameraView[]): AreaNode[] {
  const root: AreaNode = { name: '', scope: {}, cameras: 0, online: 0, known: 0, children: [] };
  for (const c of cameras) {
    let node = root;
    const path: AreaScope = {};
    const count = (n: AreaNode): void => {
      n.cameras += 1;
      if (c.status !== 'unknown') n.known += 1;
      if (c.status === 'online' || c.status === 'degraded') n.online += 1;
    };
    count(root);
    for (const level of AREA_LEVELS) {
      const name = c.place[level];
      if (name === '') break;
      path[level] = name;
      let child = node.children.find((n) => n.name === name);
      if (child === undefined) {
        child = { name, scope: { ...path }, cameras: 0, online: 0, known: 0, children: [] };
        node.children.push(child);
      }
      count(child);
      node = child;
    }
  }
  const sort = (nodes: AreaNode[]): void => {
    nodes.sort((a, b) => a.name.localeCompare(b.name, 'zh-CN'));
    for (const n of nodes) sort(n.children);
  };
  sort(root.children);
  return root.children;
}

/** Whether `scope` is exactly `other`. */
export function sameScope(a: AreaScope, b: AreaScope): boolean {
  return AREA_LEVELS.every((l) => a[l] === b[l]);
}

/** Whether a camera's place lies in `scope`. */
export function placeInScope(place: Record<string, string>, scope: AreaScope): boolean {
  for (const level of AREA_LEVELS) {
    const want = scope[level];
    if (want === undefined) return true;
    if (place[level] !== want) return false;
  }
  return true;
}

/** `A / S1 / C2` or "all areas". */
export function scopeLabel(scope: AreaScope): string {
  const parts = AREA_LEVELS.map((l) => scope[l]).filter((v): v is string => v !== undefined);
  return parts.length === 0 ? t('area.all') : parts.join(' / ');
}

/** Props of {@link AreaTree}. */
export interface AreaTreeProps {
  cameras: readonly CameraView[];
  selected: AreaScope;
  onSelect: (scope: AreaScope) => void;
}

function NodeLine({
  node,
  selected,
  onSelect,
}: {
  node: AreaNode;
  selected: AreaScope;
  onSelect: (s: AreaScope) => void;
}) {
  const share = node.known === 0 ? null : node.online / node.known;
  return (
    <>
      <button
        type="button"
        class="linklike"
        aria-pressed={sameScope(node.scope, selected)}
        onClick={() => {
          onSelect(node.scope);
        }}
      >
        {node.name}
      </button>
      <span class="count" data-testid="area-count">
        {t('tree.count', { n: node.cameras, share: formatPercent(share) })}
      </span>
      <span class="bar" aria-hidden="true">
        <span style={{ width: `${Math.round((share ?? 0) * 100)}%` }} />
      </span>
    </>
  );
}

function Branch({
  nodes,
  selected,
  onSelect,
}: {
  nodes: AreaNode[];
  selected: AreaScope;
  onSelect: (s: AreaScope) => void;
}) {
  return (
    <ul>
      {nodes.map((n) => (
        <li key={n.name} data-area={n.name}>
          {n.children.length > 0 ? (
            <details open={Object.keys(n.scope).length < 3}>
              <summary>
                <NodeLine node={n} selected={selected} onSelect={onSelect} />
              </summary>
              <Branch nodes={n.children} selected={selected} onSelect={onSelect} />
            </details>
          ) : (
            <NodeLine node={n} selected={selected} onSelect={onSelect} />
          )}
        </li>
      ))}
    </ul>
  );
}

/** See the module comment. */
export function AreaTree({ cameras, selected, onSelect }: AreaTreeProps) {
  const tree = useMemo(() => buildAreaTree(cameras), [cameras]);
  const total = cameras.length;
  const known = cameras.filter((c) => c.status !== 'unknown').length;
  const online = cameras.filter((c) => c.status === 'online' || c.status === 'degraded').length;
  return (
    <nav class="tree" aria-label={t('tree.label')} data-testid="area-tree">
      <button
        type="button"
        class="linklike"
        aria-pressed={Object.keys(selected).length === 0}
        onClick={() => {
          onSelect({});
        }}
      >
        {t('area.all')}
      </button>
      <span class="count">
        {t('tree.count', { n: total, share: formatPercent(known === 0 ? null : online / known) })}
      </span>
      <Branch nodes={tree} selected={selected} onSelect={onSelect} />
    </nav>
  );
}

/** Options for an area `<select>`: every node of the tree, indented. */
export function areaOptions(
  cameras: readonly CameraView[],
): { value: string; label: string; scope: AreaScope }[] {
  const out: { value: string; label: string; scope: AreaScope }[] = [];
  const walk = (nodes: AreaNode[], depth: number): void => {
    for (const n of nodes) {
      out.push({
        value: JSON.stringify(n.scope),
        label: `${'\u3000'.repeat(depth)}${n.name}`,
        scope: n.scope,
      });
      walk(n.children, depth + 1);
    }
  };
  walk(buildAreaTree(cameras), 0);
  return out;
}
