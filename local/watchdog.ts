import { type ChildProcess, spawn } from 'node:child_process';

/**
 * A detached shell that sends `signal` to `target` (a pid, or `-pgid` for a process group) once this Node
 * process is gone, even by SIGKILL, so a server we started never outlives us holding its port and data dir.
 * Kill the returned process on an orderly stop. Undefined where there is no `sh`: stop() still covers
 * ordinary exits.
 */
export function signalWhenParentDies(
  target: string,
  signal: 'TERM' | 'INT' | 'KILL',
): ChildProcess | undefined {
  try {
    const script = `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; kill -${signal} ${target} 2>/dev/null`;
    const watchdog = spawn('sh', ['-c', script], { detached: true, stdio: 'ignore' });
    watchdog.unref();
    return watchdog;
  } catch {
    return undefined;
  }
}
