// Bootstrap of the inference worker thread: registers tsx's loader in this thread, then loads
// the TypeScript entry (workerData.entry, a file URL). A worker started with
// `execArgv: ['--import', 'tsx']` does NOT get the loader in time (Node 20: "Unknown file
// extension .ts", under `node --import tsx` and under vitest alike), so the pool starts this
// plain ESM file instead. See docs/decisions.md (inference off the main loop).
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData.entry);
