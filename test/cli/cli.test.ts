import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createServer } from 'node:net';
import { beforeAll, describe, expect, it } from 'vitest';
import { UsageError, parseDemoArgs } from '../../src/cli/args.js';
import { parseExposition } from '../../src/cli/summary.js';
import { ROOT, ensureBuilt, freePort } from '../helpers/build.js';

const CLI = `${ROOT}dist/cli/main.js`;

function startCli(args: string[]): { child: ChildProcessWithoutNullStreams; output: () => { stdout: string; stderr: string }; exit: Promise<number | null> } {
  const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, env: { ...process.env, NODE_ENV: 'production' } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output: () => ({ stdout, stderr }), exit };
}

/** Resolves once stdout has `count` per-second lines. */
function perSecondLines(run: ReturnType<typeof startCli>, count: number): Promise<string[]> {
  return new Promise((resolve) => {
    const check = () => {
      const lines = run
        .output()
        .stdout.split('\n')
        .filter((line) => /^t=\d+s executions /.test(line));
      if (lines.length >= count) {
        run.child.stdout.off('data', check);
        resolve(lines);
      }
    };
    run.child.stdout.on('data', check);
  });
}

describe('parseDemoArgs', () => {
  it('has defaults', () => {
    expect(parseDemoArgs([], false)).toEqual({ adapter: 'ai-sdk', port: 9464, host: '127.0.0.1', otlp: undefined, duration: undefined, rate: 1, live: false });
  });

  it.each([
    [['--port', 'abc'], '--port'],
    [['--port', '70000'], '--port'],
    [['--duration', '-1'], '--duration'],
    [['--rate', '0'], '--rate'],
    [['--otlp', 'localhost:4318'], '--otlp'],
    [['--adapter', 'langchain'], '--adapter'],
    [['--bogus'], '--bogus'],
  ])('rejects %j naming %s', (args, flag) => {
    expect(() => parseDemoArgs(args, false)).toThrow(UsageError);
    expect(() => parseDemoArgs(args, false)).toThrow(flag);
  });
});

describe('parseExposition', () => {
  it('sums executions by outcome, active runs, tokens and cost', () => {
    const text = [
      'subagent_executions_total{gen_ai_agent_name="a",subagent_depth="0",subagent_outcome="ok"} 3',
      'subagent_executions_total{gen_ai_agent_name="b",subagent_depth="1",subagent_outcome="ok"} 2',
      'subagent_executions_total{gen_ai_agent_name="b",subagent_depth="1",subagent_outcome="denied"} 1',
      'subagent_active{gen_ai_agent_name="b",subagent_depth="1"} 4',
      'subagent_tokens_sum{gen_ai_agent_name="b",subagent_depth="1",gen_ai_token_type="input"} 120',
      'subagent_tokens_sum{gen_ai_agent_name="b",subagent_depth="1",gen_ai_token_type="output"} 30',
      'subagent_cost_total{gen_ai_agent_name="b",subagent_depth="1"} 0.25',
    ].join('\n');
    const parsed = parseExposition(text);
    expect(parsed.executions).toMatchObject({ ok: 5, denied: 1, error: 0 });
    expect(parsed).toMatchObject({ active: 4, inputTokens: 120, outputTokens: 30, costUsd: 0.25 });
  });
});

describe('agentmetry (built CLI)', () => {
  beforeAll(ensureBuilt, 120_000);

  it('prints help and exits 0', async () => {
    const run = startCli(['demo', '--help']);
    expect(await run.exit).toBe(0);
    expect(run.output().stdout).toContain('Usage: agentmetry demo');
    expect(run.output().stdout).toContain('--duration');
  });

  it('exits 2 with a message naming a bad flag', async () => {
    const run = startCli(['demo', '--rate', 'fast']);
    expect(await run.exit).toBe(2);
    expect(run.output().stderr).toContain("--rate must be a number of planner runs per second in (0, 100], got 'fast'");
    const unknown = startCli(['demo', '--colour']);
    expect(await unknown.exit).toBe(2);
    expect(unknown.output().stderr).toContain("'--colour'");
  });

  it('without a TTY prints one line per second, serves /metrics, and ends after --duration with a final summary', async () => {
    const port = await freePort();
    const run = startCli(['demo', '--duration', '5', '--rate', '4', '--port', String(port)]);
    // While it runs (a second line at about 2 s, the end at 5 s), its /metrics endpoint serves the executions metric.
    await perSecondLines(run, 2);
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(metrics).toMatch(/subagent_executions_total\{[^}]*gen_ai_agent_name="researcher"/);
    expect(metrics).toMatch(/subagent_active\{/);
    expect(await run.exit).toBe(0);
    const { stdout } = run.output();
    const lines = stdout.split('\n').filter((line) => /^t=\d+s executions /.test(line));
    expect(lines.length).toBeGreaterThanOrEqual(4); // one per second, then the final one
    expect(stdout.split('\n')[0]).toContain(`metrics on http://127.0.0.1:${port}/metrics`);
    expect(lines[0]).toMatch(
      /^t=1s executions ok=\d+ incomplete=\d+ error=\d+ timeout=\d+ aborted=\d+ denied=\d+ active=\d+ tokens=\d+ cost=\$\d+\.\d{4} quota tokens=\d+% cost=\d+%$/,
    );
    expect(stdout).toContain('final summary');
    expect(stdout).not.toContain('\x1b['); // no terminal control codes without a TTY
    const final = stdout.trimEnd().split('\n').at(-1)!;
    const ok = Number(/ ok=(\d+)/.exec(final)![1]);
    expect(ok).toBeGreaterThan(0);
    expect(final).toMatch(/ active=0 /);
  }, 60_000);

  it('on SIGINT prints a final summary and exits 0', async () => {
    const port = await freePort();
    const run = startCli(['demo', '--rate', '4', '--port', String(port)]);
    await perSecondLines(run, 1);
    run.child.kill('SIGINT');
    expect(await run.exit).toBe(0);
    const { stdout, stderr } = run.output();
    expect(stderr).toBe('');
    expect(stdout).toContain('final summary');
    expect(stdout).toMatch(/executions\s+\d+/);
    expect(stdout).toMatch(/quota\n\s+tokens\s+\[/);
    // The metrics port is free again.
    await new Promise<void>((resolve, reject) => {
      const server = createServer().once('error', reject);
      server.listen(port, '127.0.0.1', () => server.close(() => resolve()));
    });
  }, 60_000);
});
