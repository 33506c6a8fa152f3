import { VERSION } from '../version.js';
import { DEMO_HELP, MAIN_HELP, UsageError, parseDemoArgs } from './args.js';
import { runDemo, type Output } from './demo.js';

/**
 * The `agentmetry` command. Returns the exit code: 0 on success, 1 when a command cannot run,
 * 2 for a command-line mistake.
 */
export async function main(argv: string[], io: { stdout: Output; stderr: Output; isTty: boolean; stop: Promise<void> }): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command === undefined || command === '-h' || command === '--help' || command === 'help') {
      io.stdout.write(`${MAIN_HELP}\n`);
      return 0;
    }
    if (command === '-v' || command === '--version') {
      io.stdout.write(`${VERSION}\n`);
      return 0;
    }
    if (command !== 'demo') throw new UsageError(`unknown command '${command}'`);
    const options = parseDemoArgs(rest, io.isTty);
    if (options === 'help') {
      io.stdout.write(`${DEMO_HELP}\n`);
      return 0;
    }
    return await runDemo(options, io.stdout, io.stderr, io.stop);
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr.write(`agentmetry: ${error.message}\nRun 'agentmetry ${command === 'demo' ? 'demo ' : ''}--help' for usage.\n`);
      return 2;
    }
    io.stderr.write(`agentmetry: ${(error as { stack?: string } | null | undefined)?.stack ?? String(error)}\n`);
    return 1;
  }
}
