import { createHash } from 'node:crypto';
import type { Knex } from '../../../kernel/index.js';

/** A stored `Idempotency-Key`: what the first request was, and the answer it got. */
export interface StoredKey {
  requestHash: string;
  status: number;
  response: unknown;
}

interface KeyRow {
  customer_id: string;
  key: string;
  request_hash: string;
  status: number;
  response: unknown;
}

/** The hash of a validated request body: the same order written with other spacing or key order is the same request. */
export function requestHash(body: unknown): string {
  return createHash('sha256').update(JSON.stringify(body)).digest('base64url');
}

export async function findKey(k: Knex, customerId: string, key: string): Promise<StoredKey | undefined> {
  const row = await k<KeyRow>('idempotency_keys').where({ customer_id: customerId, key }).first('request_hash', 'status', 'response');
  if (!row) return undefined;
  // PGlite and node-postgres hand json back parsed; a string would be the stored text.
  const response = typeof row.response === 'string' ? (JSON.parse(row.response) as unknown) : row.response;
  return { requestHash: row.request_hash, status: Number(row.status), response };
}

/**
 * Claims the key for this request, in the transaction that stores the order.
 * False when another request holds it: on PostgreSQL the insert waits for a
 * concurrent transaction that inserted the same key, and conflicts once it
 * commits, so two requests with one key never both store an order.
 */
export async function claimKey(trx: Knex, customerId: string, key: string, hash: string, orderId: string, status: number, response: unknown): Promise<boolean> {
  const rows: unknown[] = await trx('idempotency_keys')
    .insert({ customer_id: customerId, key, request_hash: hash, order_id: orderId, status, response: JSON.stringify(response) })
    .onConflict(['customer_id', 'key'])
    .ignore()
    .returning('key');
  return rows.length === 1;
}
