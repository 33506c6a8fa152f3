#!/usr/bin/env node
import { main } from './cli.js';
import { listenForStop } from './stop.js';

// Ctrl-C, q, SIGINT, SIGTERM or the parent exiting stop the demo gracefully: a final summary,
// exit code 0. A second request quits at once.
const stop = listenForStop(process, () => process.exit(130));

// isTTY is undefined, not false, when stdout is a pipe or a file (Node's types say boolean).
const isTty = (process.stdout as { isTTY?: boolean }).isTTY === true;
const terminal = isTty
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
  code = await main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, isTty, terminal, stop: stop.first });
} finally {
  stop.dispose();
}
process.exit(code);
