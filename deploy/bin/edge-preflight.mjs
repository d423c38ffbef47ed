/**
 * Checks made before the edge agent starts (systemd ExecStartPre; the edge-agent image runs the
 * model check at build time). It uses the agent's own config loader and model resolver, so it
 * refuses exactly what the agent would refuse, but says so once, before a restart loop starts.
 *
 *   edge-agent-preflight --config FILE   the configuration, ffmpeg, setpriv, data_dir, MQTT files, models
 *   edge-agent-preflight --models        only the model files (sha256 against models/manifest.json)
 *
 * One line per check on stdout ("ok …" / "FAIL …"). Exit 0 all good, 2 the configuration is
 * invalid (the agent would exit 2 too), 1 something else is missing or unreadable.
 * Run through deploy/bin/edge-agent-preflight (which loads tsx: the agent is TypeScript).
 */
import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import process from 'node:process';
import { parseArgs } from 'node:util';
import { defaultCredentials, loadConfigFile, resolveCredentials } from '../../edge-agent/src/config/load.ts';
import { loadManifest, resolveModel } from '../../edge-agent/src/detect/models.ts';

const { values } = parseArgs({
  options: {
    config: { type: 'string', short: 'c' },
    models: { type: 'boolean', default: false },
  },
});

let failed = 0;
const ok = (what) => process.stdout.write(`ok   ${what}\n`);
const bad = (what) => {
  failed += 1;
  process.stdout.write(`FAIL ${what}\n`);
};

function canAccess(path, mode) {
  try {
    accessSync(path, mode);
    return true;
  } catch {
    return false;
  }
}

/** The nearest existing ancestor of `path` (systemd's StateDirectory= may create the rest). */
function existingAncestor(path) {
  let p = path;
  while (!existsSync(p) && dirname(p) !== p) p = dirname(p);
  return p;
}

async function checkModels() {
  for (const entry of loadManifest().models) {
    try {
      const m = await resolveModel(entry.id);
      ok(`model ${entry.id}: ${m.path} (sha256 ${m.sha256.slice(0, 12)}…, ${m.source})`);
    } catch (err) {
      bad(`model ${entry.id}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
}

function checkConfig(path) {
  let config;
  try {
    config = loadConfigFile(path);
  } catch (err) {
    process.stdout.write(`FAIL configuration ${path}: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(2);
  }
  ok(`configuration ${path} (site ${config.site_id}, ${config.cameras.length} cameras)`);
  // Secrets the agent resolves at start: an unset variable or unreadable file stops it (exit 2).
  try {
    if (defaultCredentials(config) !== undefined) ok('default_credentials: the password resolves');
    for (const [i, cam] of config.cameras.entries()) {
      if (cam.credentials !== undefined) resolveCredentials(cam.credentials, `/cameras/${i}/credentials`);
    }
  } catch (err) {
    process.stdout.write(`FAIL ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(2);
  }

  const ffmpeg = config.capture.ffmpeg_path;
  if (canAccess(ffmpeg, constants.X_OK)) ok(`ffmpeg ${ffmpeg}`);
  else bad(`ffmpeg ${ffmpeg} is not executable: apt-get install ffmpeg, or set capture.ffmpeg_path`);
  // Each camera's ffmpeg is started under setpriv (util-linux) so it dies with the agent.
  const setpriv = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => canAccess(p, constants.X_OK));
  if (setpriv !== undefined) ok(`setpriv ${setpriv}`);
  else bad('setpriv not found: apt-get install util-linux');

  const dataDir = config.data_dir;
  if (existsSync(dataDir)) {
    if (statSync(dataDir).isDirectory() && canAccess(dataDir, constants.W_OK | constants.X_OK))
      ok(`data_dir ${dataDir} is writable`);
    else bad(`data_dir ${dataDir} is not a writable directory for uid ${process.getuid?.() ?? '?'}`);
  } else {
    const parent = existingAncestor(dataDir);
    if (canAccess(parent, constants.W_OK | constants.X_OK))
      ok(`data_dir ${dataDir} can be created in ${parent}`);
    else bad(`data_dir ${dataDir} does not exist and ${parent} is not writable`);
  }

  const mqtt = config.mqtt;
  if (mqtt === undefined) {
    ok('no mqtt section: events go to a JSON-lines file');
  } else {
    for (const key of ['password_file', 'ca_file', 'cert_file', 'key_file']) {
      const file = mqtt[key];
      if (file === undefined) continue;
      if (canAccess(file, constants.R_OK)) ok(`mqtt.${key} ${file} is readable`);
      else bad(`mqtt.${key} ${file} is missing or not readable for uid ${process.getuid?.() ?? '?'}`);
    }
    if (mqtt.password_env !== undefined) {
      if ((process.env[mqtt.password_env] ?? '') !== '') ok(`mqtt.password_env ${mqtt.password_env} is set`);
      else bad(`mqtt.password_env ${mqtt.password_env} is not set in the environment`);
    }
    if (mqtt.url.startsWith('mqtt://')) {
      process.stdout.write(
        `warn mqtt.url ${mqtt.url} is not TLS: the site password crosses the uplink in clear\n`,
      );
    }
  }
}

if (values.config === undefined && !values.models) {
  process.stderr.write('usage: edge-agent-preflight --config FILE | --models\n');
  process.exit(2);
}
if (values.config !== undefined) checkConfig(values.config);
await checkModels();
process.exitCode = failed > 0 ? 1 : 0;
