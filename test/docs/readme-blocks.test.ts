import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { QUOTA_LIMIT_VARIABLES } from '../../src/adapters/env-config.js';
import { SDK_LINES, installCommand } from '../../src/setup/sdk.js';
import { ROOT, ensureBuilt, freePort } from '../helpers/build.js';
import { docBlocks, type DocBlock } from '../helpers/doc-blocks.js';

const execFileAsync = promisify(execFile);

/**
 * Every block of the README is executed as written, read from the README itself: the ```ts
 * blocks by code-blocks.test.ts (type-checked, run, their printed values compared), every other
 * block here, one command at a time. A block or a command that no handler below executes fails
 * the last test, so a new one cannot slip in untested: give it a handler, or list it in
 * NOT_EXECUTED with the reason.
 */
const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  name: string;
  peerDependencies: Record<string, string>;
};
const blocks = docBlocks('*', ['README.md']);

/** Blocks (by their first line) and commands that no test runs, with the reason. None so far. */
const NOT_EXECUTED: Readonly<Record<string, string>> = {};

interface Command {
  readonly where: string;
  readonly text: string;
  /** The prose right before the block. */
  readonly context: string;
}

/** A shell block's commands: continued lines joined, `a && b` split. */
function commands(block: DocBlock): Command[] {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8').split('\n');
  const line = Number(block.where.split(':')[1]);
  const context = readme.slice(Math.max(0, line - 4), line - 1).join(' ');
  return block.code
    .replace(/\\\n\s*/g, '')
    .split('\n')
    .flatMap((text) => text.split('&&'))
    .map((text) => text.trim())
    .filter((text) => text !== '' && !text.startsWith('#'))
    .map((text) => ({ where: block.where, text, context }));
}

/** Runs a shell command line in `cwd` with this Node first on the PATH. */
async function shell(command: string, cwd: string, env: Record<string, string> = {}) {
  const path = `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ''}`;
  try {
    const { stdout, stderr } = await execFileAsync('sh', ['-c', command], {
      cwd,
      env: { ...process.env, NODE_ENV: 'production', PATH: path, ...env },
      timeout: 120_000,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

interface Handler {
  /** What executing a matching command means, in one line. */
  readonly what: string;
  readonly pattern: RegExp;
  check(command: Command, match: RegExpExecArray): Promise<void> | void;
}

const HANDLERS: readonly Handler[] = [
  {
    what: 'the clone is installed: `npm ls` finds every dependency of package.json',
    pattern: /^npm install$/,
    async check() {
      const result = await shell('npm ls --depth=0', ROOT);
      expect(result.code, result.stderr).toBe(0);
    },
  },
  {
    what: 'installs the package and peers it declares; pinned versions are exactly one SDK line of src/setup/sdk.ts, the one the prose names',
    pattern: /^npm install ((?:\S+ ?)+)$/,
    check(command, match) {
      const specs = match[1]!.split(' ');
      for (const spec of specs) {
        const name = spec.replace(/(.)@.*$/, '$1');
        expect(name === manifest.name || manifest.peerDependencies[name] !== undefined, `${command.where}: ${name} is neither agentmetry nor a peer`).toBe(true);
      }
      if (!specs.some((spec) => /.@/.test(spec))) return;
      const pinned = specs.filter((spec) => spec !== manifest.name).sort();
      const line = SDK_LINES.find((candidate) => installCommand(candidate).split(' ').slice(2).sort().join(' ') === pinned.join(' '));
      expect(line, `${command.where}: ${command.text} is no SDK line's install command`).toBeDefined();
      expect(command.context, `${command.where}: the prose before it names the line's Node`).toContain(`Node ${line!.node.replace(/\.0$/, '')}`);
    },
  },
  {
    what: 'runs the demo from the clone with npx, for one second on a free port',
    pattern: /^npx agentmetry demo$/,
    async check(command) {
      // A fresh npx cache: npx links the clone into it, and a stale entry there would fail the run.
      const cache = mkdtempSync(join(tmpdir(), 'agentmetry-npx-'));
      try {
        const result = await shell(`${command.text} --duration 1 --port ${await freePort()}`, ROOT, { npm_config_cache: cache });
        expect(result.code, result.stderr).toBe(0);
        expect(result.stdout).not.toBe('');
      } finally {
        rmSync(cache, { recursive: true, force: true });
      }
    },
  },
  {
    what: "starts an app with the register entry of the built package: the command's variables become its quota",
    pattern: /^((?:AGENTMETRY_[A-Z_]+=\S+ )*)node --import agentmetry\/register app\.js$/,
    async check(command, match) {
      mkdirSync(join(ROOT, '.cache'), { recursive: true });
      // Inside the package, where `agentmetry` resolves to it, as in an app that installed it.
      const dir = mkdtempSync(join(ROOT, '.cache', 'readme-register-'));
      try {
        writeFileSync(
          join(dir, 'app.js'),
          "import { registration } from 'agentmetry/register';\nconsole.log(JSON.stringify((await registration)?.agentmeter.quota?.limits));\n",
        );
        const result = await shell(command.text, dir, { AGENTMETRY_PROMETHEUS_PORT: String(await freePort()) });
        expect(result).toMatchObject({ code: 0, stderr: '' });
        const limits = Object.fromEntries(
          match[1]!
            .trim()
            .split(' ')
            .map((assignment) => assignment.split('='))
            .map(([name, value]) => [QUOTA_LIMIT_VARIABLES[name!]!.limit, Number(value)]),
        );
        expect(JSON.parse(result.stdout)).toEqual(limits);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  },
];

const shellCommands = blocks.filter((block) => block.language === 'sh').flatMap(commands);
const handled = (command: Command) => HANDLERS.find((handler) => handler.pattern.test(command.text));

describe('README.md blocks', () => {
  beforeAll(ensureBuilt, 300_000);

  it.each(shellCommands.filter(handled).map((command) => [`${command.where} ${command.text.slice(0, 60)}`, command] as const))(
    '%s',
    async (_name, command) => {
      const handler = handled(command)!;
      await handler.check(command, handler.pattern.exec(command.text)!);
    },
    180_000,
  );

  // It ran in 0.4 s and printed only `findings`.
  it('the quick start prints what it promises: its run, read from its own /metrics', () => {
    const quickStart = blocks.find((block) => block.language === 'ts' && block.code.includes('startTelemetry('));
    expect(quickStart?.expected.filter((printed) => /^subagent_executions_total\{gen_ai_agent_name="researcher",.*\} 1$/.test(printed))).toHaveLength(1);
  });

  it('every block and command is executed by a test, or listed with the reason it is not', () => {
    const listed = (key: string) => Object.hasOwn(NOT_EXECUTED, key);
    const unexecuted = [
      ...blocks
        .filter((block) => !['ts', 'sh'].includes(block.language) && !listed(block.code.split('\n')[0]!))
        .map((block) => `${block.where}: a \`\`\`${block.language} block`),
      ...shellCommands.filter((command) => handled(command) === undefined && !listed(command.text)).map((command) => `${command.where}: ${command.text}`),
    ];
    expect(unexecuted).toEqual([]);
    expect(blocks.filter((block) => block.language === 'ts').length).toBeGreaterThanOrEqual(2);
    expect(shellCommands.length).toBeGreaterThanOrEqual(4);
  });
});
