import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** The process as far as stopping the demo goes. */
export interface StopHost {
  on(signal: 'SIGINT' | 'SIGTERM', listener: () => void): unknown;
  off(signal: 'SIGINT' | 'SIGTERM', listener: () => void): unknown;
  readonly ppid: number;
  readonly stdin: {
    readonly isTTY?: boolean;
    setRawMode?(raw: boolean): unknown;
    on(event: 'data', listener: (chunk: Buffer | string) => void): unknown;
    off(event: 'data', listener: (chunk: Buffer | string) => void): unknown;
    resume(): unknown;
    pause(): unknown;
  };
}

export interface StopRequests {
  /** Resolves with what asked, on the first request to stop. */
  readonly first: Promise<string>;
  /** Stops listening and gives the terminal its settings back. Idempotent. */
  dispose(): void;
}

const CTRL_C = '\x03';
const CTRL_BACKSLASH = '\x1c';
/** How often the demo checks that the process that started it is still there. */
const PARENT_CHECK_MS = 500;

/**
 * Listens for the requests to stop the demo: SIGINT, SIGTERM, Ctrl-C or `q` typed on a
 * terminal, and the parent process going away. The first resolves `first`; a later one calls
 * `onRepeat` (quit now).
 *
 * On a terminal, stdin is put in raw mode so that Ctrl-C arrives as a key, not as a SIGINT
 * to the whole foreground process group: under `npx`, npm runs the command through `sh -c`,
 * and that shell (dash on Debian and Ubuntu) dies of the SIGINT, so npm reports 130 even when
 * the demo stops cleanly. With the key, only the demo hears it, exits 0, and so do the shell
 * and npm (Ctrl-\ quits at once; Ctrl-Z does nothing). Only from the terminal's foreground:
 * a background job that changes the terminal's settings is stopped (SIGTTOU). For the same
 * reason the demo watches its parent: npm forwards a SIGTERM only to that shell, which dies of
 * it and leaves the demo running on, orphaned, unless it notices.
 */
export function listenForStop(host: StopHost, onRepeat: () => void, foreground: () => boolean = inForeground): StopRequests {
  let resolveFirst!: (what: string) => void;
  const first = new Promise<string>((resolve) => (resolveFirst = resolve));
  let requested = false;
  const request = (what: string) => {
    if (requested) {
      onRepeat();
      return;
    }
    requested = true;
    resolveFirst(what);
  };

  const onSigint = () => request('SIGINT');
  const onSigterm = () => request('SIGTERM');
  host.on('SIGINT', onSigint);
  host.on('SIGTERM', onSigterm);

  const stdin = host.stdin;
  const raw = stdin.isTTY === true && typeof stdin.setRawMode === 'function' && foreground();
  const onKey = (chunk: Buffer | string) => {
    const text = typeof chunk === 'string' ? chunk : chunk.toString('latin1');
    if (text.includes(CTRL_BACKSLASH)) onRepeat();
    else if (text.includes(CTRL_C)) request('Ctrl-C');
    else if (/q/i.test(text)) request('q');
  };
  if (raw) {
    stdin.setRawMode!(true);
    stdin.on('data', onKey);
    stdin.resume();
  }

  const parent = host.ppid;
  const watch = setInterval(() => {
    if (host.ppid !== parent) request('parent exited');
  }, PARENT_CHECK_MS);
  watch.unref();

  let disposed = false;
  return {
    first,
    dispose() {
      if (disposed) return;
      disposed = true;
      clearInterval(watch);
      host.off('SIGINT', onSigint);
      host.off('SIGTERM', onSigterm);
      if (raw) {
        stdin.off('data', onKey);
        stdin.setRawMode!(false);
        stdin.pause();
      }
    },
  };
}

/**
 * Whether this process is in its terminal's foreground process group (`pgrp` = `tpgid`), from
 * /proc on Linux and `ps` elsewhere; `false` when that cannot be told. Windows has no background
 * jobs of that kind.
 */
export function inForeground(platform: NodeJS.Platform = process.platform, pid: number = process.pid): boolean {
  if (platform === 'win32') return true;
  try {
    let pgrp: number;
    let tpgid: number;
    if (platform === 'linux') {
      // pid (comm) state ppid pgrp session tty_nr tpgid ...; comm may hold spaces and parentheses.
      const stat = readFileSync('/proc/self/stat', 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      pgrp = Number(fields[2]);
      tpgid = Number(fields[5]);
    } else {
      const output = execFileSync('ps', ['-o', 'pgid=,tpgid=', '-p', String(pid)], { encoding: 'utf8', timeout: 2000, stdio: ['ignore', 'pipe', 'ignore'] });
      [pgrp = Number.NaN, tpgid = Number.NaN] = output.trim().split(/\s+/).map(Number);
    }
    return pgrp > 0 && pgrp === tpgid;
  } catch {
    return false;
  }
}
