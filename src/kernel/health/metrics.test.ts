import { describe, expect, it } from 'vitest';
import { createMetrics } from './metrics.js';

const line = (text: string, prefix: string) => text.split('\n').find((l) => l.startsWith(prefix));

describe('http_request_duration_seconds', () => {
  it('is a Prometheus histogram: cumulative buckets, +Inf equal to the count, the sum in seconds', async () => {
    const metrics = createMetrics();
    const route = metrics.httpRoute('GET', '/api/x/:id');
    route.observe(200, 0.003);
    route.observe(200, 0.02);
    route.observe(200, 3);
    route.observe(404, 0.001);
    const text = await metrics.registry.metrics();
    const series = 'method="GET",route="/api/x/:id",status="200"';
    expect(line(text, `http_request_duration_seconds_bucket{le="0.005",${series}}`)).toMatch(/ 1$/);
    expect(line(text, `http_request_duration_seconds_bucket{le="0.025",${series}}`)).toMatch(/ 2$/);
    expect(line(text, `http_request_duration_seconds_bucket{le="2.5",${series}}`)).toMatch(/ 2$/);
    expect(line(text, `http_request_duration_seconds_bucket{le="+Inf",${series}}`)).toMatch(/ 3$/);
    expect(line(text, `http_request_duration_seconds_count{${series}}`)).toMatch(/ 3$/);
    expect(Number(line(text, `http_request_duration_seconds_sum{${series}}`)!.split(' ')[1])).toBeCloseTo(3.023, 6);
    expect(line(text, 'http_request_duration_seconds_count{method="GET",route="/api/x/:id",status="404"}')).toMatch(/ 1$/);
    expect(metrics.httpRoute('GET', '/api/x/:id')).toBe(route);
  });

  it('keeps counting through the handles routes hold after the registry is reset', async () => {
    const metrics = createMetrics();
    const route = metrics.httpRoute('POST', '/api/y');
    route.observe(201, 0.01);
    metrics.registry.resetMetrics();
    expect(await metrics.registry.metrics()).not.toMatch(/route="\/api\/y"/);
    route.observe(201, 0.01);
    expect(line(await metrics.registry.metrics(), 'http_request_duration_seconds_count{method="POST",route="/api/y",status="201"}')).toMatch(/ 1$/);
    await expect(metrics.registry.getMetricsAsJSON()).resolves.toEqual(expect.arrayContaining([expect.objectContaining({ name: 'http_request_duration_seconds', type: 'histogram' })]));
  });
});
