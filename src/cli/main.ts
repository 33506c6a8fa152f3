#!/usr/bin/env node
import { main } from './cli.js';

// Ctrl-C (and SIGTERM) stop the demo gracefully: it prints a final summary and exits 0.
const stop = new Promise<void>((resolve) => {
  process.once('SIGINT', () => resolve());
  process.once('SIGTERM', () => resolve());
});

const code = await main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, isTty: process.stdout.isTTY === true, stop });
process.exit(code);
