import { z } from 'zod';
import { consumes, defineContract } from '../../kernel/index.js';
import manifest from './module.json' with { type: 'json' };

export const Shipment = z.object({ id: z.uuid(), orderId: z.uuid(), status: z.enum(['preparing']) });
export type Shipment = z.infer<typeof Shipment>;

// Shipping's reading of the event that starts a shipment.
export const OrderConfirmedForShipping = consumes('orders.OrderConfirmed', 1, z.object({ orderId: z.uuid() }));

/** What every process knows of shipping, wherever it runs (ADR 0010). */
export const shippingContract = defineContract({
  name: 'shipping',
  events: [],
  consumes: { 'create-shipment': OrderConfirmedForShipping },
  dependsOn: manifest.dependsOn,
});
