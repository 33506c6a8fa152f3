import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, freePort } from '../helpers/build.js';
import { startOtlpSink, type OtlpSink } from '../helpers/net.js';
import { CHILD_ENV, CLI, parseLine, perSecondLines, start, startCli, executionsByOutcome, sumBy, type OtlpMetricsRequest } from './helpers.js';

/** The demo's token budget at --rate 1 (src/cli/workload.ts). */
const TOKEN_LIMIT_AT_RATE_1 = 2_400_000;

/** Resolves once nothing listens on `port` any more. */
function portIsFree(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const server = createServer().once('error', reject);
    server.listen(port, '127.0.0.1', () => server.close(() => resolve()));
  });
}

const count = (text: string, needle: string) => text.split(needle).length - 1;

describe('agentmetry demo (built, without a terminal)', () => {
  let sink: OtlpSink | undefined;
  let blocker: Server | undefined;
  const blockerSockets = new Set<Socket>();

  beforeAll(ensureBuilt, 300_000);

  afterEach(async () => {
    await sink?.close();
    sink = undefined;
    for (const socket of blockerSockets) socket.destroy();
    blockerSockets.clear();
    await new Promise<void>((resolve) => (blocker ? blocker.close(() => resolve()) : resolve()));
    blocker = undefined;
  });

  it('shows the numbers its metrics export: executions, tokens charged live, cost, and denials of every resource', async () => {
    sink = await startOtlpSink();
    const port = await freePort();
    // --speed 20 fast-forwards: within seconds runs pass the turn limit (and the token budget runs out).
    const run = startCli(['demo', '--duration', '4', '--speed', '20', '--port', String(port), '--otlp', sink.url]);
    const { stdout: early } = await run.until('a first per-second line', ({ stdout }) => perSecondLines(stdout).length >= 1);
    expect(early.split('\n')[0]).toBe(
      `agentmetry demo: ai-sdk workload, 1 planner/s, 20x speed, metrics on http://127.0.0.1:${port}/metrics, pushing OTLP to ${sink.url}`,
    );
    const scraped = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(scraped).toMatch(/subagent_executions_total\{[^}]*gen_ai_agent_name="researcher"/);

    expect(await run.exit).toBe(0);
    const { stdout, stderr } = run.output();
    expect(stderr).toBe('');
    expect(stdout).not.toContain('\x1b['); // no terminal control codes without a TTY
    const lines = perSecondLines(stdout);
    expect(lines.length).toBeGreaterThanOrEqual(3); // one per second, then the final one

    // Tokens are charged as the runs report usage, like cost and the quota: in every line the
    // token count is what the quota says is used (it counted finished runs only, and read 0
    // beside a cost).
    for (const line of lines) {
      const numbers = parseLine(line);
      // Rounded down; past the limit at least 101 (it reads above 100 once over).
      const share = Math.floor((numbers.tokens * 100) / TOKEN_LIMIT_AT_RATE_1);
      expect(numbers.tokens > TOKEN_LIMIT_AT_RATE_1 ? Math.max(101, share) : share, line).toBe(numbers.quotaTokensPercent);
      if (numbers.costUsd > 0) expect(numbers.tokens, line).toBeGreaterThan(0);
    }

    // The final line against the last export of the same metrics, made at shutdown after it.
    const final = parseLine(lines.at(-1)!);
    const exported = sink.received.get('/v1/metrics')!.at(-1) as OtlpMetricsRequest;
    expect(final.active).toBe(0);
    expect(final.executions).toEqual(executionsByOutcome(exported));
    const tokens = sumBy(exported, 'subagent.tokens', 'gen_ai.token.type');
    expect(final.tokens).toBe((tokens.input ?? 0) + (tokens.output ?? 0));
    expect(final.tokens).toBe(sumBy(exported, 'subagent.quota.used', undefined, { 'quota.resource': 'tokens', 'quota.scope': 'global' })['']);
    expect(final.costUsd.toFixed(4)).toBe(sumBy(exported, 'subagent.cost')['']!.toFixed(4));
    expect(final.denials).toEqual(sumBy(exported, 'subagent.quota.denials', 'quota.resource'));
    // Runs stopped at the turn limit are denials too: more denials than runs refused at admission.
    expect(final.denials.turns).toBeGreaterThan(0);
    const denialCount = Object.values(final.denials).reduce((sum, value) => sum + value, 0);
    expect(denialCount).toBeGreaterThan(final.executions.denied!);
    // The final panel says the same.
    expect(stdout).toMatch(new RegExp(`^quota denials +${denialCount} {3}`, 'm'));
    expect(stdout).toMatch(new RegExp(`^tokens +${final.tokens} {3}in \\d+ · out \\d+$`, 'm'));
  }, 60_000);

  it('on SIGINT prints the final summary once, exits 0 and frees its port', async () => {
    const port = await freePort();
    // --duration only bounds the run should the test fail before its SIGINT.
    const run = startCli(['demo', '--duration', '60', '--speed', '10', '--port', String(port)]);
    await run.until('a first per-second line', ({ stdout }) => perSecondLines(stdout).length >= 1);
    run.child.kill('SIGINT');
    expect(await run.exit).toBe(0);
    const { stdout, stderr } = run.output();
    expect(stderr).toBe('');
    expect(count(stdout, 'final summary after')).toBe(1);
    expect(stdout).toMatch(/^executions +\d+$/m);
    expect(stdout).toMatch(/^quota \(scope global\)\n {2}tokens +\[/m);
    await portIsFree(port);
  }, 60_000);

  it('stops with a final summary when the shell npx runs it under dies of a SIGTERM (npm forwards it to that shell only)', async () => {
    const port = await freePort();
    // As `npx agentmetry demo` runs it: npm -> sh -c 'agentmetry demo' -> node. dash, Debian's and
    // Ubuntu's sh, forks node rather than exec'ing it and dies of the SIGTERM, leaving node orphaned.
    // --duration 60 only ends the run if the demo missed its parent going.
    const shell = start('sh', ['-c', `"${process.execPath}" "${CLI}" demo --duration 60 --speed 10 --port ${port}`], { env: CHILD_ENV });
    await shell.until('a first per-second line', ({ stdout }) => perSecondLines(stdout).length >= 1);
    shell.child.kill('SIGTERM');
    await shell.closed; // the pipes close when the demo, which holds them too, has exited
    const { stdout } = shell.output();
    expect(count(stdout, 'final summary after')).toBe(1);
    expect(Number(/final summary after (\d+)s/.exec(stdout)![1])).toBeLessThan(60);
    await portIsFree(port);
  }, 60_000);

  it('exits 1 with one line naming the port and --port when the metrics port is taken', async () => {
    const port = await freePort();
    blocker = createServer((socket) => blockerSockets.add(socket)); // accepts connections and never answers
    await new Promise<void>((resolve) => blocker!.listen(port, '127.0.0.1', () => resolve()));
    const run = startCli(['demo', '--duration', '2', '--port', String(port)]);
    expect(await run.exit).toBe(1);
    expect(run.output()).toEqual({
      stdout: '',
      stderr: `agentmetry demo: cannot serve metrics on 127.0.0.1:${port} (address already in use); choose another port with --port <n>\n`,
    });
  }, 60_000);
});
