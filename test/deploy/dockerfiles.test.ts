/**
 * The two Dockerfiles, checked without a Docker engine (none runs here): hadolint when it is
 * installed, and a structural check that says what each image needs — named stages, a pinned base,
 * a non-root final user, exec-form ENTRYPOINT/CMD/HEALTHCHECK, npm ci with install scripts off,
 * COPY sources that exist and are not excluded from the build context, and every file the program
 * loads present in the final image (a static scan of its imports). What the images' commands do
 * when run is tested in compose.test.ts (the whole centre) and below (the edge image's build-time
 * model check).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  copyArgs,
  dockerStages,
  dockerignorePatterns,
  dockerignored,
  execForm,
  healthcheck,
  IMAGE_ROOT,
  onPath,
  packageClosure,
  parseDockerfile,
  programFiles,
  REPO,
  runCommand,
  type DockerStage,
} from './helpers.ts';

interface ImageSpec {
  file: string;
  /** The program's source entries (repo-relative). */
  entries: string[];
  /** The program's default config path inside the image, and its HTTP port. */
  config: string;
  port: number;
  user: string;
  /** Debian packages the runtime stage must install. */
  apt: string[];
}

const IMAGES: ImageSpec[] = [
  {
    file: 'deploy/docker/gateway.Dockerfile',
    entries: ['gateway/src/main.ts', 'gateway/bin/gateway'],
    config: '/etc/sharpeyes/gateway.json',
    port: 9480,
    user: '10001:10001',
    apt: [],
  },
  {
    file: 'deploy/docker/edge-agent.Dockerfile',
    entries: ['edge-agent/src/main.ts', 'edge-agent/bin/edge-agent'],
    config: '/etc/sharpeyes/edge-agent.json',
    port: 9464,
    user: '10002:10002',
    apt: ['ffmpeg', 'util-linux'],
  },
];

function load(spec: ImageSpec): { stages: DockerStage[]; final: DockerStage; text: string } {
  const text = readFileSync(join(REPO, spec.file), 'utf8');
  const stages = dockerStages(parseDockerfile(text));
  const final = stages.at(-1);
  if (final === undefined) throw new Error(`${spec.file}: no FROM`);
  return { stages, final, text };
}

const only = (stage: DockerStage, keyword: string) => stage.instructions.filter((i) => i.keyword === keyword);

/** Repo-relative paths the final image holds under IMAGE_ROOT (COPY from the context or a stage). */
function imagePaths(spec: ImageSpec, stages: DockerStage[], final: DockerStage): string[] {
  const workdir = only(final, 'WORKDIR').at(-1)?.args;
  expect(workdir, `${spec.file}: final WORKDIR`).toBe(IMAGE_ROOT);
  const out: string[] = [];
  for (const ins of only(final, 'COPY')) {
    const c = copyArgs(ins.args);
    const dest = c.dest.startsWith('/') ? c.dest : `${IMAGE_ROOT}/${c.dest.replace(/^\.\/?/, '')}`;
    if (!dest.startsWith(IMAGE_ROOT)) continue;
    const rel = dest.slice(IMAGE_ROOT.length).replace(/^\/|\/$/g, '');
    if (c.from !== undefined) {
      expect(
        stages.some((s) => s.name === c.from),
        `${spec.file}:${ins.line} COPY --from=${c.from}`,
      ).toBe(true);
      out.push(rel);
    } else if (c.sources.length === 1 && !c.dest.endsWith('/')) {
      out.push(rel === '' ? (c.sources[0] ?? '') : rel);
    } else {
      for (const s of c.sources) out.push(rel === '' ? s : `${rel}/${s.split('/').at(-1) ?? s}`);
    }
  }
  return out;
}

describe.each(IMAGES)('$file', (spec) => {
  const { stages, final, text } = load(spec);

  it('passes hadolint, when hadolint is installed', (ctx) => {
    const hadolint = onPath('hadolint');
    // No Debian 12 package provides hadolint; the structural checks below stand in for it.
    if (hadolint === undefined) ctx.skip('hadolint is not installed (no Debian 12 package)');
    const r = runCommand([hadolint ?? 'hadolint', '--failure-threshold', 'warning', join(REPO, spec.file)]);
    expect(r.stdout + r.stderr).toBe('');
    expect(r.code).toBe(0);
  });

  it('is multi-stage with named stages and a pinned Debian 12 Node 20 base', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    for (const s of stages) {
      expect(s.name, `stage FROM ${s.base}`).toMatch(/^[a-z][a-z0-9-]*$/);
      // Either a stage, or the ARG-pinned base image.
      expect(s.base === '${NODE_IMAGE}' || stages.some((o) => o.name === s.base), s.base).toBe(true);
    }
    const arg = /^ARG NODE_IMAGE=(\S+)$/m.exec(text)?.[1];
    expect(arg).toMatch(/^node:20[.\d]*-bookworm-slim$/);
    expect(text).not.toMatch(/:latest\b/);
  });

  it('runs as a fixed non-root user, with exec-form ENTRYPOINT, CMD and HEALTHCHECK last', () => {
    const users = only(final, 'USER');
    expect(users.map((u) => u.args)).toEqual([spec.user]);
    expect(spec.user).not.toMatch(/^(0|root)\b/);
    const [uid, gid] = spec.user.split(':');
    expect(text).toMatch(new RegExp(`useradd --system --uid ${uid} --gid ${gid} `));
    const entry = execForm(only(final, 'ENTRYPOINT').at(-1)?.args ?? '');
    expect(entry).toHaveLength(1);
    expect(entry[0]?.startsWith(`${IMAGE_ROOT}/`)).toBe(true);
    expect(existsSync(join(REPO, (entry[0] ?? '').slice(IMAGE_ROOT.length)))).toBe(true);
    expect(execForm(only(final, 'CMD').at(-1)?.args ?? '')).toEqual(['--config', spec.config]);
    const hc = healthcheck(only(final, 'HEALTHCHECK').at(-1)?.args ?? '');
    expect(hc.command).toEqual([
      'node',
      `${IMAGE_ROOT}/deploy/docker/healthcheck.mjs`,
      `http://127.0.0.1:${spec.port}/healthz`,
    ]);
    expect(Object.keys(hc.options).sort()).toEqual(['interval', 'retries', 'start-period', 'timeout']);
    expect(only(final, 'EXPOSE').flatMap((e) => e.args.split(/\s+/))).toContain(String(spec.port));
    // USER comes after every RUN (a later RUN would run as that user, or be the root we wanted to drop).
    const userLine = users[0]?.line ?? 0;
    expect(only(final, 'RUN').every((r) => r.line < userLine)).toBe(true);
  });

  it('installs npm packages with npm ci, with install scripts and the CUDA download off', () => {
    const runs = stages.flatMap((s) => only(s, 'RUN')).map((r) => r.args);
    expect(runs.some((r) => /\bnpm ci\b/.test(r))).toBe(true);
    expect(runs.some((r) => /\bnpm (install|i)\b/.test(r))).toBe(false);
    expect(text).toMatch(/^ENV ONNXRUNTIME_NODE_INSTALL=skip$/m);
    // The lock, .npmrc (onnxruntime-node-install=skip) and the overrides' stub package go in first.
    const firstCopies = only(stages[0] as DockerStage, 'COPY').map((c) => c.args);
    expect(firstCopies[0]).toBe('package.json package-lock.json .npmrc ./');
    expect(firstCopies.some((c) => c.startsWith('models'))).toBe(true);
    for (const r of runs.filter((x) => x.includes('apt-get install'))) {
      expect(r).toContain('--no-install-recommends');
      expect(r).toContain('rm -rf /var/lib/apt/lists/*');
      expect(r).toMatch(/apt-get update/);
    }
    const apt = runs.filter((x) => x.includes('apt-get install')).join(' ');
    for (const p of spec.apt) expect(apt).toMatch(new RegExp(`\\b${p}\\b`));
  });

  it('copies only sources that exist and that its .dockerignore lets into the context', () => {
    const ignore = dockerignorePatterns(readFileSync(join(REPO, `${spec.file}.dockerignore`), 'utf8'));
    // Operator secrets never enter the build context.
    for (const p of ['deploy/compose/certs', 'deploy/compose/secrets']) {
      expect(dockerignored(`${p}/x`, ignore), p).toBe(true);
    }
    expect(dockerignored('node_modules/x', ignore)).toBe(true);
    for (const s of stages) {
      for (const ins of only(s, 'COPY')) {
        const c = copyArgs(ins.args);
        if (c.from !== undefined) continue;
        for (const src of c.sources) {
          expect(existsSync(join(REPO, src)), `${spec.file}:${ins.line} ${src}`).toBe(true);
          expect(dockerignored(src, ignore), `${spec.file}:${ins.line} ${src} is ignored`).toBe(false);
        }
      }
    }
  });

  it('holds every file its program loads, and no package it loads is pruned', () => {
    const held = imagePaths(spec, stages, final);
    const prog = programFiles(spec.entries);
    expect(prog.files.size).toBeGreaterThan(20);
    const missing = [...prog.files].filter((f) => !held.some((h) => f === h || f.startsWith(`${h}/`)));
    expect(missing).toEqual([]);
    expect(held).toContain('node_modules');
    expect(held).toContain('deploy/docker/healthcheck.mjs');
    // Packages removed from node_modules in the image: none may be needed at run time.
    const removed = [...text.matchAll(/node_modules\/((?:@[^/\s]+\/)?[^/\s]+)(?=\s|$)/g)]
      .map((m) => m[1] ?? '')
      .filter((p) => !['onnxruntime-node/bin'].includes(p));
    expect(removed.length).toBeGreaterThan(0);
    const needed = packageClosure(prog.packages);
    for (const p of prog.packages) expect(needed.has(p) || p === 'tsx', `${p} is installed`).toBe(true);
    expect(removed.filter((p) => needed.has(p))).toEqual([]);
  });
});

describe('deploy/docker/edge-agent.Dockerfile build steps run here', () => {
  it('the build-time model check passes on the installed models, and fails on a wrong hash', () => {
    const ok = runCommand([join(REPO, 'deploy/bin/edge-agent-preflight'), '--models'], { cwd: '/' });
    expect(ok.code, ok.stdout + ok.stderr).toBe(0);
    expect(ok.stdout.match(/^ok {3}model /gm)).toHaveLength(4);
    const bad = runCommand([join(REPO, 'deploy/bin/edge-agent-preflight'), '--models'], {
      cwd: '/',
      env: {
        SHARPEYES_MODEL_PPOCR_KEYS: join(REPO, 'package.json'),
        SHARPEYES_MODEL_PPOCR_KEYS_SHA256: '0'.repeat(64),
      },
    });
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(/^FAIL model ppocr-keys: .*EDGE_ERR_MODEL_HASH|^FAIL model ppocr-keys: /m);
  });

  it('onnxruntime-node has this platform’s binary where the prune step keeps it', () => {
    const dir = join(REPO, 'node_modules/onnxruntime-node/bin/napi-v6/linux', process.arch);
    expect(existsSync(dir)).toBe(true);
  });
});
