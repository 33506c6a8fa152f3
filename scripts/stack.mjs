#!/usr/bin/env node
// `npm run stack`: the agentmetry pipeline on this machine, without Docker.
//
// Starts the collector built from collector/builder-config.yaml with
// collector/otelcol-config.yaml, and Prometheus with collector/prometheus.yml
// (both unchanged, on loopback), prints the URLs, and stops both on Ctrl-C.
// Tools are installed or found by scripts/ensure-tools.sh (cached in .cache/).
//
// Traces go to AGENTMETRY_TRACES_ENDPOINT when set (e.g. a local Jaeger's
// OTLP/HTTP port); otherwise to a small built-in receiver that prints each
// trace's span tree. Other AGENTMETRY_* variables of the collector config
// (ports, listen host) are honoured too.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const env = process.env;
const host = env.AGENTMETRY_LISTEN_HOST ?? '127.0.0.1';
const port = (name, fallback) => Number(env[name] ?? fallback);
const ports = {
  grpc: port('AGENTMETRY_OTLP_GRPC_PORT', 4317),
  http: port('AGENTMETRY_OTLP_HTTP_PORT', 4318),
  exporter: port('AGENTMETRY_PROMETHEUS_EXPORTER_PORT', 8889),
  health: port('AGENTMETRY_HEALTH_CHECK_PORT', 13133),
  telemetry: port('AGENTMETRY_COLLECTOR_METRICS_PORT', 8888),
  prometheus: port('AGENTMETRY_PROMETHEUS_PORT', 9090),
  traceSink: port('AGENTMETRY_TRACE_SINK_PORT', 4319),
};

function ensureTools() {
  const result = spawnSync('bash', [join(ROOT, 'scripts/ensure-tools.sh')], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (result.status !== 0) {
    console.error('scripts/ensure-tools.sh failed');
    process.exit(1);
  }
  return Object.fromEntries(
    result.stdout
      .split('\n')
      .filter((line) => line.includes('='))
      .map((line) => line.split(/=(.*)/s).slice(0, 2)),
  );
}

/** A minimal OTLP/HTTP (JSON) trace receiver that prints span trees. */
function startTraceSink() {
  const pending = new Map(); // traceId -> spans, printed once the trace's root span arrives
  const print = (spans) => {
    const byParent = new Map();
    for (const span of spans) byParent.set(span.parentSpanId ?? '', [...(byParent.get(span.parentSpanId ?? '') ?? []), span]);
    const lines = [];
    const walk = (parentId, depth) => {
      for (const span of byParent.get(parentId) ?? []) {
        const outcome = span.attributes?.find((attribute) => attribute.key === 'subagent.outcome')?.value?.stringValue;
        lines.push(`${'  '.repeat(depth)}${span.name}${outcome ? ` [${outcome}]` : ''}`);
        walk(span.spanId, depth + 1);
      }
    };
    walk('', 1);
    console.log(`[traces] trace ${spans[0].traceId}\n${lines.join('\n')}`);
  };
  const server = createServer((request, response) => {
    const chunks = [];
    request.on('data', (chunk) => chunks.push(chunk));
    request.on('end', () => {
      try {
        let body = Buffer.concat(chunks);
        if (request.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
        const payload = JSON.parse(body.toString('utf8'));
        for (const resourceSpans of payload.resourceSpans ?? []) {
          for (const scopeSpans of resourceSpans.scopeSpans ?? []) {
            for (const span of scopeSpans.spans ?? []) pending.set(span.traceId, [...(pending.get(span.traceId) ?? []), span]);
          }
        }
        for (const [traceId, spans] of pending) {
          if (spans.some((span) => !span.parentSpanId)) {
            print(spans);
            pending.delete(traceId);
          }
        }
        response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      } catch {
        response.writeHead(400).end();
      }
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(ports.traceSink, '127.0.0.1', () => resolve(server));
  });
}

function start(name, command, args, extraEnv) {
  const child = spawn(command, args, { cwd: ROOT, env: { ...env, ...extraEnv }, stdio: ['ignore', 'inherit', 'inherit'] });
  child.on('exit', (code, signal) => {
    if (stopping) return;
    if (signal === 'SIGINT') return void stop(0); // Ctrl-C reached the whole process group
    console.error(`\n${name} exited (${signal ?? code}); stopping the stack`);
    void stop(1); // stop() never rejects
  });
  return child;
}

let stopping = false;
const children = [];
let sink;
async function stop(code = 0) {
  if (stopping) return;
  stopping = true;
  await Promise.all(
    children.map(
      (child) =>
        new Promise((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once('exit', resolve);
          child.kill('SIGTERM');
          setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
        }),
    ),
  );
  sink?.close();
  process.exit(code);
}

const tools = ensureTools();
const collectorArgs = ['--config', join(ROOT, 'collector/otelcol-config.yaml')];
let tracesEndpoint = env.AGENTMETRY_TRACES_ENDPOINT;
if (!tracesEndpoint) {
  sink = await startTraceSink();
  tracesEndpoint = `http://127.0.0.1:${ports.traceSink}`;
  collectorArgs.push('--set', 'exporters::otlp_http/traces::encoding=json');
}
const dataDir = join(ROOT, '.cache/stack/prometheus-data');
mkdirSync(dataDir, { recursive: true });

process.on('SIGINT', () => void stop(0));
process.on('SIGTERM', () => void stop(0));

children.push(start('collector', tools.OTELCOL_BIN, collectorArgs, { AGENTMETRY_TRACES_ENDPOINT: tracesEndpoint }));
children.push(
  start('prometheus', tools.PROMETHEUS_BIN, [
    `--config.file=${join(ROOT, 'collector/prometheus.yml')}`,
    `--storage.tsdb.path=${dataDir}`,
    `--web.listen-address=127.0.0.1:${ports.prometheus}`,
    '--log.level=warn',
  ]),
);

const ready = async (url) => {
  for (let attempt = 0; attempt < 120 && !stopping; attempt++) {
    try {
      if ((await fetch(url, { signal: AbortSignal.timeout(1000) })).ok) return true;
    } catch {
      // not up yet
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  return false;
};
const [collectorUp, prometheusUp] = await Promise.all([ready(`http://127.0.0.1:${ports.health}/`), ready(`http://127.0.0.1:${ports.prometheus}/-/ready`)]);
if (!collectorUp || !prometheusUp) {
  console.error('the stack did not come up (see the output above)');
  await stop(1);
}

console.log(`
agentmetry stack is up (Ctrl-C stops it)

  send OTLP from your app   http://${host}:${ports.http}   (gRPC: ${host}:${ports.grpc})
      startTelemetry({ serviceName: 'my-app', prometheus: false, otlp: { endpoint: 'http://127.0.0.1:${ports.http}' } })
  Prometheus                http://127.0.0.1:${ports.prometheus}   (alerts: /alerts, targets: /targets)
  collector -> Prometheus   http://${host}:${ports.exporter}/metrics
  collector health          http://${host}:${ports.health}/
  traces                    ${sink ? `printed here (built-in receiver on ${tracesEndpoint})` : tracesEndpoint}

Grafana: import grafana/dashboards/*.json and pick this Prometheus as the "Data source".
`);
