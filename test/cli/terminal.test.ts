import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, freePort } from '../helpers/build.js';
import { waitFor } from '../helpers/poll.js';
import { CHILD_ENV, CLI, start, type Running } from './helpers.js';
import { VirtualTerminal } from './virtual-terminal.js';

const LEAVE_ALTERNATE_SCREEN = '\x1b[?1049l';

/**
 * Runs `setup` then the demo in a pseudo-terminal (util-linux `script`), the demo under
 * `sh -c` as `npx` runs it: script -> sh (setup) -> sh -c 'node main.js demo ...' -> node. What
 * the test writes to script's stdin is typed on that terminal.
 */
function startInTerminal(setup: string, demoArgs: string[]): Running {
  const demo = [process.execPath, CLI, 'demo', ...demoArgs].map((word) => `"${word}"`).join(' ');
  return start('script', ['-qec', `${setup}; sh -c '${demo}'`, '/dev/null'], { env: { ...CHILD_ENV, SHELL: '/bin/sh' } });
}

/** The frames drawn in `output` (from cursor home to clear-below), as lines. */
function frames(output: string): string[][] {
  // The terminal's output processing turns each LF into CR LF on the way (ONLCR).
  // eslint-disable-next-line no-control-regex -- ESC starts the escape sequences matched here
  return [...output.matchAll(/\x1b\[H(.*?)\x1b\[J/gs)].map((match) => match[1]!.split(/\x1b\[K\r*\n/).map((line) => line.replace(/\x1b\[K$/, '')));
}

describe('agentmetry demo on a terminal (built)', () => {
  let folder: string;

  beforeAll(async () => {
    await ensureBuilt();
    folder = mkdtempSync(join(tmpdir(), 'agentmetry-demo-terminal-'));
  }, 300_000);

  afterAll(() => rmSync(folder, { recursive: true, force: true }));

  it('Ctrl-C prints the final summary once and everything exits 0, the shell npx runs it under included', async () => {
    const port = await freePort();
    // --duration only bounds the run should the test fail before its Ctrl-C.
    const run = startInTerminal('stty cols 80 rows 24', ['--duration', '60', '--speed', '10', '--port', String(port)]);
    await run.until('the live panel', ({ stdout }) => frames(stdout).length >= 2);
    // Typed Ctrl-C: the demo reads it as a key. As a SIGINT it would also reach the shell, which
    // dies of it (npx then exits 130).
    run.child.stdin.write('\x03');
    expect(await run.exit).toBe(0);
    const { stdout } = run.output();
    expect(stdout.split('final summary after').length - 1).toBe(1);
    expect(stdout.indexOf(LEAVE_ALTERNATE_SCREEN)).toBeLessThan(stdout.indexOf('final summary after'));

    // What the terminal shows at the end: the main screen, the final summary on it.
    const terminal = new VirtualTerminal(80, 24);
    terminal.write(stdout);
    expect(terminal.alternate).toBe(false);
    const screen = terminal.text();
    expect(screen.filter((row) => row.startsWith('agentmetry demo'))).toHaveLength(1);
    expect(screen).toContain(`metrics http://127.0.0.1:${port}/metrics`);
    expect(screen.some((row) => /^final summary after \d+s$/.test(row))).toBe(true);
    for (const row of screen) expect(row.length).toBeLessThan(80);
  }, 60_000);

  it('runs as a background job of a shell with job control to its end, a line per second, the terminal left alone', async () => {
    const port = await freePort();
    const demo = [process.execPath, CLI, 'demo', '--duration', '2', '--speed', '10', '--port', String(port)].map((word) => `"${word}"`).join(' ');
    // `set -m`: the job gets its own process group, not the terminal's foreground one, and keeps
    // the terminal as stdin and stdout. Changing the terminal's settings from there stops it
    // (SIGTTOU): `wait` then reports 150 (128 + SIGTTOU).
    const run = start('script', ['-qec', `stty cols 80 rows 24; sh -c 'set -m; ${demo} & wait $!; echo background exit $?'`, '/dev/null'], {
      env: { ...CHILD_ENV, SHELL: '/bin/sh' },
    });
    await run.exit;
    const { stdout } = run.output();
    expect(stdout).toContain('background exit 0');
    expect(stdout).toMatch(/^t=1s executions /m);
    expect(stdout).toContain('final summary after');
    expect(stdout).not.toContain('\x1b[?1049h'); // no alternate screen over the shell
  }, 60_000);

  it('redraws at the new width when the terminal is resized, and q stops it', async () => {
    const port = await freePort();
    const ttyFile = join(folder, 'tty');
    const run = startInTerminal(`stty cols 100 rows 30; tty > ${ttyFile}`, ['--duration', '30', '--speed', '10', '--port', String(port)]);
    const { stdout: before } = await run.until('the live panel', ({ stdout }) => frames(stdout).length >= 1);
    const [first] = frames(before);
    expect(first![0]).toHaveLength(99); // the title spread over the width, one column left free
    const tty = await waitFor('the terminal name', () => readFileSync(ttyFile, 'utf8').trim() || undefined);

    // The terminal gets narrower: the kernel sends SIGWINCH and stdout emits 'resize'.
    execFileSync('stty', ['-F', tty, 'cols', '60', 'rows', '20']);
    const mark = run.output().stdout.length;
    const { stdout: after } = await run.until('a frame at the new width', ({ stdout }) => frames(stdout.slice(mark)).length >= 1);
    const [resized] = frames(after.slice(mark));
    expect(resized![0]).toHaveLength(59);
    expect(resized!.length).toBeLessThanOrEqual(20);
    for (const line of resized!) expect(line.length).toBeLessThanOrEqual(59);

    run.child.stdin.write('q');
    expect(await run.exit).toBe(0);
    const terminal = new VirtualTerminal(100, 30);
    terminal.write(before);
    terminal.resize(60, 20);
    terminal.write(run.output().stdout.slice(before.length));
    expect(terminal.alternate).toBe(false);
    const screen = terminal.text();
    expect(screen.some((row) => /^final summary after \d+s$/.test(row))).toBe(true);
    for (const row of screen) expect(row.length).toBeLessThan(60);
  }, 60_000);
});
