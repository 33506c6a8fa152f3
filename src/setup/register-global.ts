import { context, metrics, propagation, trace, type MeterProvider, type TracerProvider } from '@opentelemetry/api';
import { logger } from '../log.js';
import type { Sdk } from './sdk.js';

/**
 * Registers the providers with the OpenTelemetry API, as 2.x `NodeTracerProvider.register()`
 * did (3.x has no Node provider and asks apps to do this themselves): the tracer provider, an
 * AsyncLocalStorage context manager so that spans nest across `await`, the W3C trace-context
 * and baggage propagators, then the meter provider. Whatever was registered first stays, with
 * a warning.
 */
export function registerGlobal(sdk: Sdk, tracerProvider: TracerProvider, meterProvider: MeterProvider): void {
  if (!trace.setGlobalTracerProvider(tracerProvider)) {
    logger.warn('a global tracer provider was already registered; agentmetry spans go to the existing one');
  }
  const contextManager = new sdk.contextAsyncHooks.AsyncLocalStorageContextManager();
  if (!context.setGlobalContextManager(contextManager.enable())) contextManager.disable();
  const { CompositePropagator, W3CTraceContextPropagator, W3CBaggagePropagator } = sdk.core;
  propagation.setGlobalPropagator(new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] }));
  if (!metrics.setGlobalMeterProvider(meterProvider)) {
    logger.warn('a global meter provider was already registered; agentmetry metrics go to the existing one');
  }
}
