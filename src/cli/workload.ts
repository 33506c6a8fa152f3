import type { AgentMeter, QuotaOptions } from '../index.js';
import type { DemoAdapter } from './args.js';

/** Prices used to give the simulated usage a cost (USD per million tokens). */
const PRICE_INPUT_PER_M = 3;
const PRICE_OUTPUT_PER_M = 15;

/** The demo workload on one framework. */
export interface Workload {
  /** Runs one planner to completion (or until `signal` aborts). Never rejects. */
  runPlanner(signal: AbortSignal): Promise<void>;
  /** Removes the adapter. */
  uninstall(): void;
}

/** Builds the workload on a framework once its packages are loaded. */
export type WorkloadFactory = (agentmeter: AgentMeter, speed: number) => Workload;

/** A framework the demo needs and could not load: printed as one line with the command that installs it. */
export class MissingFrameworkError extends Error {
  override readonly name = 'MissingFrameworkError';
}

/** Each framework: its packages and, where the demo needs a given major, the version to install (`ai@7`: its mock model is AI SDK 7's). */
const FRAMEWORKS: Record<DemoAdapter, { title: string; packages: string[]; install: string; load: () => Promise<WorkloadFactory> }> = {
  'ai-sdk': {
    title: 'the Vercel AI SDK',
    packages: ['ai'],
    install: 'ai@7',
    load: async () => (await import('./ai-sdk-workload.js')).createAiSdkWorkload,
  },
  'openai-agents': {
    title: 'the OpenAI Agents SDK',
    packages: ['@openai/agents'],
    install: '@openai/agents',
    load: async () => (await import('./openai-agents-workload.js')).createOpenAIAgentsWorkload,
  },
};

/**
 * Loads the framework of `adapter`. Throws `MissingFrameworkError` naming the npm command
 * when its package is not installed, or is a version without what the demo imports (an `ai` 6
 * has no `MockLanguageModelV4`); other load errors pass through.
 */
export async function loadWorkload(adapter: DemoAdapter, load: () => Promise<WorkloadFactory> = FRAMEWORKS[adapter].load): Promise<WorkloadFactory> {
  const framework = FRAMEWORKS[adapter];
  try {
    return await load();
  } catch (error) {
    const missing = missingPackage(error);
    if (missing !== undefined && framework.packages.some((name) => missing === name || missing.startsWith(`${name}/`))) {
      throw new MissingFrameworkError(`--adapter ${adapter} runs on ${framework.title}, which is not installed: npm install ${framework.install}`);
    }
    const absent = missingExport(error);
    if (absent !== undefined && framework.packages.some((name) => absent.module === name || absent.module.startsWith(`${name}/`))) {
      throw new MissingFrameworkError(
        `--adapter ${adapter} needs ${framework.install}: the installed ${absent.module} has no export ${absent.name} (another major version): npm install ${framework.install}`,
      );
    }
    throw error;
  }
}

/** The module and export of a "does not provide an export named" link error (an older major of a package). */
function missingExport(error: unknown): { module: string; name: string } | undefined {
  if (!(error instanceof SyntaxError)) return undefined;
  const match = /The requested module '([^']+)' does not provide an export named '([^']+)'/.exec(error.message);
  return match === null ? undefined : { module: match[1]!, name: match[2]! };
}

/** The package an `ERR_MODULE_NOT_FOUND` names, e.g. `ai` in "Cannot find package 'ai' imported from ...". */
function missingPackage(error: unknown): string | undefined {
  const { code, message } = error as { code?: unknown; message?: unknown };
  if (code !== 'ERR_MODULE_NOT_FOUND' || typeof message !== 'string') return undefined;
  return /Cannot find (?:package|module) '([^']+)'/.exec(message)?.[1];
}

/**
 * Quotas for the demo, scaled by the rate so that the token budget runs out after roughly
 * fifty seconds whatever `--rate` is (fifty divided by `--speed`, which fast-forwards); runs
 * past 10 turns are stopped (outcome `incomplete`).
 */
export function demoQuota(rate: number): QuotaOptions {
  return {
    limits: {
      maxTokens: Math.round(2_400_000 * rate),
      maxCostUsd: Math.round(12 * rate * 100) / 100,
      maxConcurrent: Math.max(4, Math.round(20 * rate)),
      maxTurnsPerRun: 10,
    },
    warnAt: [0.8],
  };
}

export const usageCost = ({ inputTokens, outputTokens }: { inputTokens: number; outputTokens: number }) =>
  (inputTokens * PRICE_INPUT_PER_M + outputTokens * PRICE_OUTPUT_PER_M) / 1_000_000;

/** One model call of the simulated workload. */
export interface Step {
  /** Tools the model calls in this turn; none: it answers with `text`. */
  calls?: Array<{ tool: 'research' | 'lookup' | 'note'; topic: string }>;
  text?: string;
  inputTokens: number;
  outputTokens: number;
  latencyMs: number;
  /** The model call fails with an error of this name. */
  failWith?: string;
}

/*
 * The workload, the same on every framework: a planner fans 2 to 5 researchers out in parallel
 * through a `research` tool; a researcher takes 1 to 5 turns (now and then 11 to 14, past the
 * turn limit), calling a `lookup` tool that runs a helper agent or a plain `note` tool; a few
 * model calls fail. Turns, tokens and latencies are random.
 */

/** The planner's turns: one fanning researchers out, one writing the answer. */
export function plannerSteps(speed: number): Step[] {
  const plan = modelStep(speed, 800, 2500, 100, 400);
  plan.calls = Array.from({ length: randomInt(2, 5) }, (_, index) => ({ tool: 'research' as const, topic: `topic ${index + 1}` }));
  return [plan, answer(modelStep(speed, 2000, 9000, 300, 1200))];
}

/** A researcher's turns on `topic`. */
export function researcherSteps(speed: number, topic: string): Step[] {
  // Mostly short loops, now and then a long one that runs into maxTurnsPerRun.
  const turns = Math.random() < 0.08 ? randomInt(11, 14) : randomInt(1, 5);
  const steps: Step[] = [];
  for (let turn = 0; turn < turns - 1; turn += 1) {
    const step = modelStep(speed, 1000, 6000, 80, 600);
    step.calls = [{ tool: Math.random() < 0.25 ? 'lookup' : 'note', topic: `${topic} #${turn}` }];
    steps.push(step);
  }
  steps.push(answer(modelStep(speed, 1500, 8000, 200, 1500)));
  if (Math.random() < 0.05) steps[randomInt(0, steps.length - 1)]!.failWith = Math.random() < 0.5 ? 'RateLimitError' : 'APICallError';
  return steps;
}

/** A helper's one turn. */
export function helperSteps(speed: number): Step[] {
  return [answer(modelStep(speed, 300, 1200, 40, 200))];
}

/**
 * The most any simulated call of each model sends and answers (the ranges of the steps above):
 * what the app declares before each call (`maxOutputTokens`, and its own count of the input), so
 * that the adapters that can hold a call's worst case keep the token budget exact.
 */
export const CALL_LIMITS = {
  'planner-large': { inputTokens: 9_000, maxOutputTokens: 1_200 },
  'research-large': { inputTokens: 8_000, maxOutputTokens: 1_500 },
  'helper-mini': { inputTokens: 1_200, maxOutputTokens: 200 },
} as const;
export type DemoModel = keyof typeof CALL_LIMITS;

/** Most turns a researcher takes, for the frameworks' own turn caps (above the quota's). */
export const MAX_RESEARCHER_TURNS = 20;

/** The error a step that fails throws, named like a provider's. */
export function stepError(model: string, step: Step): Error | undefined {
  if (step.failWith === undefined) return undefined;
  const error = new Error(`${model}: simulated ${step.failWith}`);
  error.name = step.failWith;
  return error;
}

function modelStep(speed: number, minInput: number, maxInput: number, minOutput: number, maxOutput: number): Step {
  return {
    inputTokens: logUniformInt(minInput, maxInput),
    outputTokens: logUniformInt(minOutput, maxOutput),
    latencyMs: logUniformInt(60, 1200) / speed,
  };
}

function answer(step: Step): Step {
  step.text = 'findings';
  return step;
}

function randomInt(min: number, max: number): number {
  return min + Math.floor(Math.random() * (max - min + 1));
}

function logUniformInt(min: number, max: number): number {
  return Math.round(Math.exp(Math.log(min) + Math.random() * (Math.log(max) - Math.log(min))));
}

/** Waits `ms`, or rejects with the signal's reason when it aborts first. */
export function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
