// The 2.x `@opentelemetry/sdk-trace-node` NodeTracerProvider on top of `@opentelemetry/sdk-trace`
// 3.x, which has no Node provider and no register(). register() does what 2.12's does, and what
// the 3.x sdk-trace README tells apps to do by hand: the global tracer provider, an enabled
// AsyncLocalStorage context manager and the W3C trace-context and baggage propagators, where
// `null` skips one and `undefined` installs the default.
import { context, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';

export * from '@opentelemetry/sdk-trace-base';

export class NodeTracerProvider extends BasicTracerProvider {
  register(config = {}) {
    trace.setGlobalTracerProvider(this);
    if (config.contextManager !== null) {
      const contextManager = config.contextManager ?? new AsyncLocalStorageContextManager();
      contextManager.enable();
      context.setGlobalContextManager(contextManager);
    }
    if (config.propagator !== null) {
      propagation.setGlobalPropagator(
        config.propagator ??
          new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] }),
      );
    }
  }
}
