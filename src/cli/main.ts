#!/usr/bin/env node
import { main } from './cli.js';

// Ctrl-C (and SIGTERM) stop the demo gracefully: it prints a final summary and exits 0.
const stop = new Promise<void>((resolve) => {
  process.once('SIGINT', () => resolve());
  process.once('SIGTERM', () => resolve());
});

// isTTY is undefined, not false, when stdout is a pipe or a file (Node's types say boolean).
const isTty = (process.stdout as { isTTY?: boolean }).isTTY === true;
const code = await main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, isTty, stop });
process.exit(code);
