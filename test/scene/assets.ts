/**
 * Files the scene generator draws with: the CJK font and the public-domain face photos. All come
 * from Debian packages (fonts-wqy-zenhei, python3-skimage), none are committed.
 */
import { createHash } from 'node:crypto';
import { accessSync, constants, readFileSync } from 'node:fs';
import { SceneError } from './errors.ts';

/** WenQuanYi Zen Hei (GPL with font exception), package fonts-wqy-zenhei. */
export const FONT_PATH = '/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc';

const SKIMAGE_DATA = '/usr/lib/python3/dist-packages/skimage/data';

/** An axis-aligned box in pixels. */
export interface Box {
  x: number;
  y: number;
  w: number;
  h: number;
}

/** A photo with one face, and where the face is. */
export interface FaceSource {
  /** PNG file (512×512). */
  path: string;
  /** Licence, for the README and the curious. */
  licence: string;
  /** Face box in the photo: brows/forehead to chin, cheek to cheek — what a detector should report. */
  face: Box;
  /** Region cut out for the scene: the face plus hair and some neck, an ellipse is inscribed in it. */
  crop: Box;
}

/** Names of the face photos. */
export type FaceSourceName = 'astronaut' | 'camera';

/** The face photos, with face boxes found by looking at the images. */
export const FACE_SOURCES: Readonly<Record<FaceSourceName, FaceSource>> = {
  astronaut: {
    path: `${SKIMAGE_DATA}/astronaut.png`,
    licence: 'NASA, public domain (Eileen Collins)',
    face: { x: 177, y: 82, w: 96, h: 100 },
    crop: { x: 143, y: 32, w: 164, h: 185 },
  },
  camera: {
    path: `${SKIMAGE_DATA}/camera.png`,
    licence: 'CC0 (scikit-image cameraman)',
    face: { x: 180, y: 112, w: 76, h: 82 },
    crop: { x: 153, y: 71, w: 130, h: 152 },
  },
};

/** Throw a clear error naming the package to install when an asset is missing. */
export function checkAssets(): void {
  const needed: [string, string][] = [
    [FONT_PATH, 'fonts-wqy-zenhei'],
    [FACE_SOURCES.astronaut.path, 'python3-skimage'],
    [FACE_SOURCES.camera.path, 'python3-skimage'],
  ];
  for (const [path, pkg] of needed) {
    try {
      accessSync(path, constants.R_OK);
    } catch {
      throw new SceneError('SCENE_MISSING_ASSET', `${path} is missing: apt-get install -y ${pkg}`);
    }
  }
}

let assetDigest: string | undefined;

/** sha256 over the asset files, so a changed font or photo invalidates cached scenes. */
export function assetsDigest(): string {
  if (assetDigest === undefined) {
    checkAssets();
    const h = createHash('sha256');
    for (const path of [FONT_PATH, FACE_SOURCES.astronaut.path, FACE_SOURCES.camera.path]) {
      h.update(path);
      h.update(readFileSync(path));
    }
    assetDigest = h.digest('hex');
  }
  return assetDigest;
}
