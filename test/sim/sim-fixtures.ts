/** Camera configs and small helpers shared by the simulator tests and fixtures. */
import type { OnvifCamera, OnvifCameraConfig, OnvifCameraOptions } from './onvif/index.ts';

/** Credentials every test camera is configured with. */
export const TEST_USER = 'admin';
export const TEST_PASSWORD = 'Sim&Pass-42';

/** A deterministic `urn:uuid:` for camera `index`. */
export function testEndpointReference(index: number): string {
  return `urn:uuid:5e1a0000-0000-4000-8000-${index.toString(16).padStart(12, '0')}`;
}

/** Config of test camera `index`: main 1080p25 + sub 720p15 pointing at rtsp://127.0.0.1:8554/cam<index>. */
export function testCameraConfig(
  index: number,
  overrides: Partial<OnvifCameraConfig> = {},
): OnvifCameraConfig {
  return {
    name: `cam${index}`,
    identity: {
      endpoint_reference: testEndpointReference(index),
      manufacturer: 'Sharpeyes Sim',
      model: 'SE-IPC-2000',
      firmware_version: '1.2.3',
      serial_number: `SN-${1000 + index}`,
      hardware_id: 'HW-2000-A',
    },
    credentials: { username: TEST_USER, password: TEST_PASSWORD },
    profiles: [
      {
        token: 'profile_main',
        name: 'MainStream',
        width: 1920,
        height: 1080,
        fps: 25,
        rtsp_uri: `rtsp://127.0.0.1:8554/cam${index}`,
      },
      {
        token: 'profile_sub',
        name: 'SubStream',
        width: 1280,
        height: 720,
        fps: 15,
        rtsp_uri: `rtsp://127.0.0.1:8554/cam${index}_sub`,
      },
    ],
    ...overrides,
  };
}

/** {@link testCameraConfig} as start options. */
export function testCameraOptions(
  index: number,
  overrides: Partial<OnvifCameraOptions> = {},
): OnvifCameraOptions {
  return { ...testCameraConfig(index), ...overrides };
}

/** Cameras started by a test, stopped in afterEach whatever happened. */
export class CameraPool {
  private readonly cams: OnvifCamera[] = [];

  add(cam: OnvifCamera): OnvifCamera {
    this.cams.push(cam);
    return cam;
  }

  async stopAll(): Promise<void> {
    const cams = this.cams.splice(0);
    const results = await Promise.allSettled(cams.map((c) => c.stop()));
    for (const r of results) {
      if (r.status === 'rejected') throw r.reason;
    }
  }
}
