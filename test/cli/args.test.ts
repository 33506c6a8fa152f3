import { describe, expect, it } from 'vitest';
import { UsageError, parseDemoArgs } from '../../src/cli/args.js';
import { main } from '../../src/cli/cli.js';

/** Runs the command in this process with recording streams; nothing here reaches the demo itself. */
async function runCli(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, {
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
    live: false,
    terminal: undefined,
    stop: new Promise(() => {}),
  });
  return { code, stdout, stderr };
}

describe('parseDemoArgs', () => {
  it('has defaults', () => {
    expect(parseDemoArgs([], false)).toEqual({
      adapter: 'ai-sdk',
      port: 9464,
      host: '127.0.0.1',
      otlp: undefined,
      duration: undefined,
      rate: 1,
      speed: 1,
      live: false,
    });
  });

  it('reads --flag value and --flag=value; a later flag wins; --help wins', () => {
    expect(
      parseDemoArgs(
        ['--port', '9500', '--host=0.0.0.0', '--otlp', 'http://localhost:4318', '--duration=2.5', '--rate', '4', '--rate', '0.5', '--speed', '10'],
        true,
      ),
    ).toEqual({ adapter: 'ai-sdk', port: 9500, host: '0.0.0.0', otlp: 'http://localhost:4318', duration: 2.5, rate: 0.5, speed: 10, live: true });
    expect(parseDemoArgs(['--adapter', 'openai-agents'], false)).toMatchObject({ adapter: 'openai-agents' });
    expect(parseDemoArgs(['--rate', 'x', '--help'], false)).toBe('help');
  });

  // Each message names the flag, what it takes, and the value given (Node's parseArgs said
  // "Option '--rate' argument is ambiguous" for -1, and nothing about the range).
  it.each([
    [['--rate', '-1'], '--rate must be a number in (0, 100], got -1'],
    [['--rate', '0'], '--rate must be a number in (0, 100], got 0'],
    [['--rate', '101'], '--rate must be a number in (0, 100], got 101'],
    [['--rate', 'fast'], '--rate must be a number in (0, 100], got fast'],
    [['--rate', '1e1'], '--rate must be a number in (0, 100], got 1e1'],
    [['--rate='], '--rate must be a number in (0, 100], got an empty value'],
    [['--speed', '0'], '--speed must be a number in (0, 100], got 0'],
    [['--port', 'abc'], '--port must be an integer from 1 to 65535, got abc'],
    [['--port', '70000'], '--port must be an integer from 1 to 65535, got 70000'],
    [['--port', '94.5'], '--port must be an integer from 1 to 65535, got 94.5'],
    [['--duration', '-3'], '--duration must be a number of seconds in (0, 1000000], got -3'],
    [['--host', 'http://x'], '--host must be a host name or IP address to bind, e.g. 127.0.0.1, got http://x'],
    [['--otlp', 'localhost:4318'], '--otlp must be an http(s) URL such as http://localhost:4318, got localhost:4318'],
    [['--adapter', 'langchain'], '--adapter must be ai-sdk or openai-agents, got langchain'],
    [['--rate'], '--rate needs a value: a number in (0, 100]'],
    [['--port', '9500', '--adapter'], '--adapter needs a value: ai-sdk or openai-agents'],
    [['--colour'], 'unknown flag --colour (flags: --port, --host, --otlp, --duration, --rate, --speed, --adapter, --help)'],
    [['-x'], 'unknown flag -x (flags: --port, --host, --otlp, --duration, --rate, --speed, --adapter, --help)'],
    [['fast'], "unexpected argument 'fast' (flags: --port, --host, --otlp, --duration, --rate, --speed, --adapter, --help)"],
  ])('rejects %j: %s', (args, message) => {
    expect(() => parseDemoArgs(args, false)).toThrow(UsageError);
    expect(() => parseDemoArgs(args, false)).toThrow(message);
  });
});

describe('agentmetry command line', () => {
  it('exits 2 on a flag error, naming the flag, the expected value and the value given, with the usage hint', async () => {
    expect(await runCli(['demo', '--rate', '-1'])).toEqual({
      code: 2,
      stdout: '',
      stderr: "agentmetry demo: --rate must be a number in (0, 100], got -1\nRun 'agentmetry demo --help' for usage.\n",
    });
    expect(await runCli(['demo', '--colour'])).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/^agentmetry demo: unknown flag --colour \(flags: /) as unknown,
    });
    expect(await runCli(['demo', '--port'])).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/^agentmetry demo: --port needs a value: an integer from 1 to 65535\n/) as unknown,
    });
    expect(await runCli(['dmeo'])).toMatchObject({
      code: 2,
      stderr: "agentmetry: unknown command 'dmeo' (commands: demo)\nRun 'agentmetry --help' for usage.\n",
    });
  });

  it('prints help and the version, exit 0', async () => {
    const help = await runCli(['demo', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('--adapter <name>  framework to run on: ai-sdk (default) or openai-agents');
    expect(help.stdout).toContain('--speed <n>');
    expect((await runCli(['--version'])).stdout).toMatch(/^\d+\.\d+\.\d+/);
  });
});
