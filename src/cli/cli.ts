import { VERSION } from '../version.js';
import { DEMO_HELP, MAIN_HELP, UsageError, parseDemoArgs } from './args.js';
import { PREFIX, runDemo, type DemoIo } from './demo.js';

export interface CliIo extends DemoIo {
  /** A live panel (stdout a terminal, the demo in its foreground) or a line per second. */
  live: boolean;
}

/**
 * The `agentmetry` command. Returns the exit code: 0 on success, 1 when a command cannot run,
 * 2 for a command-line mistake.
 */
export async function main(argv: string[], io: CliIo): Promise<number> {
  const [command, ...rest] = argv;
  const prefix = command === 'demo' ? PREFIX : 'agentmetry';
  try {
    if (command === undefined || command === '-h' || command === '--help' || command === 'help') {
      io.stdout.write(`${MAIN_HELP}\n`);
      return 0;
    }
    if (command === '-v' || command === '--version') {
      io.stdout.write(`${VERSION}\n`);
      return 0;
    }
    if (command !== 'demo') throw new UsageError(`unknown command '${command}' (commands: demo)`);
    const options = parseDemoArgs(rest, io.live);
    if (options === 'help') {
      io.stdout.write(`${DEMO_HELP}\n`);
      return 0;
    }
    return await runDemo(options, io);
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr.write(`${prefix}: ${error.message}\nRun 'agentmetry ${command === 'demo' ? 'demo ' : ''}--help' for usage.\n`);
      return 2;
    }
    // startTelemetry() names what is missing and the npm command that installs it.
    const message = error instanceof Error ? error.message.replace(/^agentmetry: /, '') : String(error);
    io.stderr.write(`${prefix}: ${message}\n`);
    return 1;
  }
}
