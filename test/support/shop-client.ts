import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'vitest';

export interface HttpResult<T = any> {
  status: number;
  body: T;
  headers: Headers;
}

/** A tiny client of the shop's public HTTP API; tests use nothing else. */
export class ShopClient {
  constructor(readonly baseUrl: string) {}

  async request<T = any>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<HttpResult<T>> {
    const init: RequestInit = { method, headers: { ...headers } };
    if (body !== undefined) {
      init.body = typeof body === 'string' ? body : JSON.stringify(body);
      (init.headers as Record<string, string>)['content-type'] ??= 'application/json';
    }
    const response = await fetch(`${this.baseUrl}${path}`, init);
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // Non-JSON answers (metrics) stay text.
    }
    return { status: response.status, body: parsed as T, headers: response.headers };
  }

  async createProduct(stock: number, priceCents = 1_000): Promise<{ id: string; stock: number; priceCents: number }> {
    const res = await this.request('POST', '/api/catalog/products', { sku: `sku-${randomUUID()}`, name: 'Test product', priceCents, stock });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return res.body;
  }

  async createWallet(balanceCents: number, customerId = `cust-${randomUUID()}`): Promise<{ customerId: string; balanceCents: number }> {
    const res = await this.request('POST', '/api/payments/wallets', { customerId, balanceCents });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return res.body;
  }

  placeOrder(customerId: string, items: Array<{ productId: string; quantity: number }>, headers?: Record<string, string>) {
    return this.request('POST', '/api/orders', { customerId, items }, headers);
  }

  /**
   * Places an order as a well-behaved client does: an order shed by admission
   * control (429) is placed again after its `Retry-After`. A burst on a busy
   * machine may be shed; that is the kit's promise, not a failure.
   */
  async placeOrderAccepted(customerId: string, items: Array<{ productId: string; quantity: number }>) {
    for (;;) {
      const res = await this.placeOrder(customerId, items);
      if (res.status !== 429) return res;
      const retryAfter = Number(res.headers.get('retry-after'));
      if (!(retryAfter > 0)) throw new Error(`a 429 without a valid Retry-After: ${JSON.stringify(res.headers.get('retry-after'))}`);
      await new Promise((done) => setTimeout(done, retryAfter * 1000));
    }
  }

  async getOrder(id: string) {
    const res = await this.request('GET', `/api/orders/${id}`);
    expect(res.status).toBe(200);
    return res.body as { id: string; status: string; cancelReason?: string; totalCents: number; customerId: string; items: Array<{ productId: string; quantity: number }> };
  }

  async ordersOf(customerId: string): Promise<string[]> {
    const res = await this.request('GET', `/api/orders?customerId=${encodeURIComponent(customerId)}&limit=500`);
    expect(res.status).toBe(200);
    return (res.body as Array<{ id: string }>).map((o) => o.id);
  }

  async getProduct(id: string) {
    const res = await this.request('GET', `/api/catalog/products/${id}`);
    expect(res.status).toBe(200);
    return res.body as { id: string; stock: number };
  }

  async getWallet(customerId: string) {
    const res = await this.request('GET', `/api/payments/wallets/${customerId}`);
    expect(res.status).toBe(200);
    return res.body as { balanceCents: number };
  }

  async shipmentsOf(orderId: string) {
    const res = await this.request('GET', `/api/shipping/shipments?orderId=${orderId}`);
    expect(res.status).toBe(200);
    return res.body as Array<{ id: string; orderId: string; status: string }>;
  }

  /** Polls until no order is pending; fails with the pending ids after `timeoutMs`. */
  async waitSettled(orderIds: readonly string[], timeoutMs = 30_000) {
    const deadline = Date.now() + timeoutMs;
    let pending = [...orderIds];
    const settled = new Map<string, Awaited<ReturnType<ShopClient['getOrder']>>>();
    while (pending.length > 0) {
      const orders = await Promise.all(pending.map((id) => this.getOrder(id)));
      for (const order of orders) if (order.status !== 'pending') settled.set(order.id, order);
      pending = orders.filter((o) => o.status === 'pending').map((o) => o.id);
      if (pending.length === 0) break;
      if (Date.now() > deadline) throw new Error(`orders still pending after ${timeoutMs} ms: ${pending.slice(0, 5).join(', ')}…(${pending.length})`);
      await sleep(50);
    }
    return orderIds.map((id) => settled.get(id)!);
  }
}
