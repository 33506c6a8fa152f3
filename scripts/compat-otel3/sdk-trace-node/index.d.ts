import type { ContextManager, TextMapPropagator } from '@opentelemetry/api';
import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';

export * from '@opentelemetry/sdk-trace-base';
export type { TracerConfig as NodeTracerConfig } from '@opentelemetry/sdk-trace-base';

export interface SDKRegistrationConfig {
  contextManager?: ContextManager | null;
  propagator?: TextMapPropagator | null;
}

export declare class NodeTracerProvider extends BasicTracerProvider {
  register(config?: SDKRegistrationConfig): void;
}
