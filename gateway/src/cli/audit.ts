/**
 * `gateway audit verify --db FILE` checks the audit hash chain and pinpoints the first altered,
 * removed or relinked record. Exit codes: 0 the chain verifies, 1 tampering found, 2 bad
 * arguments, 3 the database cannot be read (missing, no audit log, or open in a running
 * gateway — verify a copy made with the gateway's backup, or stop it first).
 *
 * The launcher dispatches `gateway audit …` to {@link runAudit} with the arguments after
 * `audit`; run directly: `node --import tsx gateway/src/cli/audit.ts verify --db FILE`.
 */
import { existsSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { verifyAuditChain } from '../audit/verify.ts';
import { isGatewayError } from '../errors.ts';
import { openSqlite, type SqliteDb } from '../registry/sqlite.ts';

export const AUDIT_HELP = `usage: gateway audit verify --db FILE [--expect-seq N --expect-hash HEX] [--json]

Verifies the audit trail's hash chain in the gateway's SQLite file and names the first record
that was altered, removed or moved. The last record's seq and hash are printed: keep them
somewhere else and pass them next time (--expect-seq/--expect-hash) to also catch records cut
off the end or a rewritten tail.

  --db FILE          the gateway's registry database (registry.db_path)
  --expect-seq N     a head recorded earlier: its seq ...
  --expect-hash HEX  ... and its hash (both or neither)
  --json             print one JSON line instead of text

Exit codes: 0 verified, 1 tampering found, 2 bad arguments, 3 database not readable
(missing, no audit log, or in use by a running gateway: verify a backup copy).
`;

/** Run `gateway audit …`; returns the exit code. */
export function runAudit(
  argv: readonly string[],
  out: (line: string) => void,
  err: (line: string) => void,
): number {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    (command === undefined ? err : out)(AUDIT_HELP.trimEnd());
    return command === undefined ? 2 : 0;
  }
  if (command !== 'verify') {
    err(`gateway audit: unknown command ${JSON.stringify(command)}\n${AUDIT_HELP.trimEnd()}`);
    return 2;
  }
  let values: { db?: string; 'expect-seq'?: string; 'expect-hash'?: string; json?: boolean; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: [...rest],
      options: {
        db: { type: 'string' },
        'expect-seq': { type: 'string' },
        'expect-hash': { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    err(`gateway audit verify: ${(e as Error).message}\n${AUDIT_HELP.trimEnd()}`);
    return 2;
  }
  if (values.help === true) {
    out(AUDIT_HELP.trimEnd());
    return 0;
  }
  if (values.db === undefined) {
    err(`gateway audit verify: --db FILE is required\n${AUDIT_HELP.trimEnd()}`);
    return 2;
  }
  const seqText = values['expect-seq'];
  const hashText = values['expect-hash'];
  if ((seqText === undefined) !== (hashText === undefined)) {
    err('gateway audit verify: give both --expect-seq and --expect-hash, or neither');
    return 2;
  }
  let expectedHead: { seq: number; hash: string } | undefined;
  if (seqText !== undefined && hashText !== undefined) {
    const seq = Number(seqText);
    if (!Number.isSafeInteger(seq) || seq < 1 || !/^[0-9a-f]{64}$/.test(hashText)) {
      err(
        'gateway audit verify: --expect-seq must be a positive integer and --expect-hash 64 lower-case hex digits',
      );
      return 2;
    }
    expectedHead = { seq, hash: hashText };
  }
  const json = values.json === true;
  const fail = (code: number, message: string): number => {
    if (json) out(JSON.stringify({ ok: false, error: message }));
    else err(`gateway audit verify: ${message}`);
    return code;
  };
  if (!existsSync(values.db)) return fail(3, `${values.db} does not exist`);
  let db: SqliteDb;
  try {
    db = openSqlite(values.db);
  } catch (e) {
    if (isGatewayError(e, 'GATEWAY_ERR_DB_LOCKED')) {
      return fail(
        3,
        `${(e as Error).message}: the gateway is running; verify a backup copy or stop it first`,
      );
    }
    return fail(3, (e as Error).message);
  }
  try {
    if (
      db.get("SELECT 1 AS x FROM sqlite_master WHERE type = 'table' AND name = 'audit_log'") === undefined
    ) {
      return fail(3, `${values.db} has no audit log`);
    }
    const result = verifyAuditChain(db, expectedHead === undefined ? {} : { expectedHead });
    if (json) {
      out(JSON.stringify(result));
    } else if (result.ok) {
      out(`audit chain OK: ${result.records} records verified`);
      out(`head: seq ${result.head.seq} hash ${result.head.hash}`);
      if (expectedHead !== undefined)
        out(`the anchored head (seq ${expectedHead.seq}) is present and unchanged`);
    } else {
      out(`audit chain TAMPERED at record ${result.seq} (${result.kind}): ${result.message}`);
      out(`${result.records} records verified before it`);
    }
    return result.ok ? 0 : 1;
  } finally {
    db.close();
  }
}

/** Entry for a launcher: runs `gateway audit …` and sets the process exit code. */
export function auditMain(argv: readonly string[]): void {
  process.exitCode = runAudit(
    argv,
    (line) => process.stdout.write(`${line}\n`),
    (line) => process.stderr.write(`${line}\n`),
  );
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  auditMain(process.argv.slice(2));
}
