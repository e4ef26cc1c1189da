/**
 * Crash points for the fault tests. `DEEPLENS_FAULT_PROJECTOR_KILL=<point>:<n>` makes the
 * process SIGKILL itself the n-th time it reaches `<point>` (e.g. `metadata.beforeCommit:3`,
 * inside a batch's transaction after the read model was changed and before the commit).
 */
const spec = /^([\w.-]+):(\d+)$/.exec(process.env.DEEPLENS_FAULT_PROJECTOR_KILL ?? '');
let hits = 0;

export function faultPoint(point: string): void {
  if (!spec || spec[1] !== point) return;
  if (++hits >= Number(spec[2])) process.kill(process.pid, 'SIGKILL');
}
