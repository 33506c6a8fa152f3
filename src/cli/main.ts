#!/usr/bin/env node
import { main } from './cli.js';
import { inForeground, listenForStop } from './stop.js';

// A job in the terminal's foreground gets the live panel and the keys; in the background (and
// without a terminal) it prints a line per second and leaves the terminal's settings alone.
// isTTY is undefined, not false, when stdout is a pipe or a file (Node's types say boolean).
const isTty = (stream: { isTTY?: boolean }) => stream.isTTY === true;
const foreground = (isTty(process.stdin) || isTty(process.stdout)) && inForeground();
const live = isTty(process.stdout) && foreground;

// Ctrl-C, q, SIGINT, SIGTERM or the parent exiting stop the demo gracefully: a final summary,
// exit code 0. A second request quits at once.
const stop = listenForStop(
  process,
  () => process.exit(130),
  () => foreground,
);

const terminal = live
  ? {
      size: () => ({ columns: process.stdout.columns, rows: process.stdout.rows }),
      onResize: (listener: () => void) => {
        process.stdout.on('resize', listener);
        return () => void process.stdout.off('resize', listener);
      },
    }
  : undefined;

let code: number;
try {
  code = await main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, live, terminal, stop: stop.first });
} finally {
  stop.dispose();
}
process.exit(code);
