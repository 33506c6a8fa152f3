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

const CTRL_C = 0x03;
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
 * and npm. For the same reason the demo watches its parent: npm forwards a SIGTERM only to that
 * shell, which dies of it and leaves the demo running on, orphaned, unless it notices.
 */
export function listenForStop(host: StopHost, onRepeat: () => void): StopRequests {
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
  const raw = stdin.isTTY === true && typeof stdin.setRawMode === 'function';
  const onKey = (chunk: Buffer | string) => {
    const text = typeof chunk === 'string' ? chunk : chunk.toString('latin1');
    if (text.includes(String.fromCharCode(CTRL_C))) request('Ctrl-C');
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
