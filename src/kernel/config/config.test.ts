import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config.js';

describe('loadConfig', () => {
  it('gives the documented defaults for an empty environment', () => {
    expect(loadConfig({})).toMatchObject({
      port: 3000,
      databaseUrl: undefined,
      dataDir: '.data',
      eventBus: 'memory',
      redisUrl: 'redis://127.0.0.1:6379',
      logLevel: 'info',
      eventRelay: 'on',
    });
  });

  it('reads every setting', () => {
    const config = loadConfig({ PORT: '8080', DATABASE_URL: 'postgres://u@h:5432/db', EVENT_BUS: 'bullmq', LOG_LEVEL: 'debug', EVENT_MAX_ATTEMPTS: '3' });
    expect(config).toMatchObject({ port: 8080, databaseUrl: 'postgres://u@h:5432/db', eventBus: 'bullmq', logLevel: 'debug', eventMaxAttempts: 3 });
  });

  it('reads the OpenTelemetry settings; tracing is off without an endpoint', () => {
    expect(loadConfig({})).toMatchObject({ otelEndpoint: undefined, otelServiceName: undefined });
    expect(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_SERVICE_NAME: 'shop-eu' })).toMatchObject({
      otelEndpoint: 'http://collector:4318',
      otelServiceName: 'shop-eu',
    });
  });

  it('treats an empty value as unset', () => {
    expect(loadConfig({ PORT: '', DATABASE_URL: '' })).toMatchObject({ port: 3000, databaseUrl: undefined });
  });

  it.each([
    [{ PORT: 'abc' }, /^Invalid setting PORT: expected an integer between 0 and 65535 \(got "abc"\)$/],
    [{ PORT: '70000' }, /^Invalid setting PORT: /],
    [{ DATABASE_URL: 'mysql://x' }, /^Invalid setting DATABASE_URL: expected a URL starting with postgres:\/\//],
    [{ DATABASE_URL: 'not a url' }, /^Invalid setting DATABASE_URL: /],
    // A password never reaches the error line (stderr, then the logs).
    [{ DATABASE_URL: 'mysql://shop:s3cret-pw@db:5432/shop' }, /^Invalid setting DATABASE_URL: .*\(got "mysql:\/\/shop:\*\*\*@db:5432\/shop"\)$/],
    [{ EVENT_BUS: 'kafka' }, /^Invalid setting EVENT_BUS: expected "memory" or "bullmq" \(got "kafka"\)$/],
    [{ REDIS_URL: 'http://x' }, /^Invalid setting REDIS_URL: /],
    [{ LOG_LEVEL: 'loud' }, /^Invalid setting LOG_LEVEL: expected one of fatal, error/],
    [{ EVENT_RELAY: 'maybe' }, /^Invalid setting EVENT_RELAY: /],
    [{ EVENT_HANDLER_CONCURRENCY: '0' }, /^Invalid setting EVENT_HANDLER_CONCURRENCY: expected an integer between 1 and 64 \(got "0"\)$/],
    [{ EVENT_HANDLER_CONCURRENCY: '65' }, /^Invalid setting EVENT_HANDLER_CONCURRENCY: /],
    [{ ADMISSION_CONTROL: 'yes' }, /^Invalid setting ADMISSION_CONTROL: expected "on" or "off" \(got "yes"\)$/],
    [{ ADMISSION_MAX_LAG_MS: '50' }, /^Invalid setting ADMISSION_MAX_LAG_MS: expected an integer between 100 and 600000 \(got "50"\)$/],
    [{ ADMISSION_MAX_LAG_MS: '2s' }, /^Invalid setting ADMISSION_MAX_LAG_MS: expected an integer between 100 and 600000 \(got "2s"\)$/],
    [{ ADMISSION_SAMPLE_MS: '0' }, /^Invalid setting ADMISSION_SAMPLE_MS: expected an integer between 20 and 10000 \(got "0"\)$/],
    [{ SHUTDOWN_GRACE_MS: '-1' }, /^Invalid setting SHUTDOWN_GRACE_MS: /],
    [{ SHUTDOWN_DRAIN_MS: '600001' }, /^Invalid setting SHUTDOWN_DRAIN_MS: /],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' }, /^Invalid setting OTEL_EXPORTER_OTLP_ENDPOINT: expected a URL starting with http:\/\/ or https:\/\/ \(got "collector:4318"\)$/],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'grpc://collector:4317' }, /^Invalid setting OTEL_EXPORTER_OTLP_ENDPOINT: /],
    [{ MMK_FAULT_POINTS: 'event.after-commit=kill@1', NODE_ENV: 'production' }, /^Invalid setting MMK_FAULT_POINTS: test-only fault points are refused when NODE_ENV=production/],
  ])('rejects %o with one line naming the setting', (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    try {
      loadConfig(env);
    } catch (error) {
      expect((error as Error).message).toMatch(message);
      expect((error as Error).message).not.toContain('\n');
    }
  });
});
