import { z } from 'zod';
import { consumes, defineContract, defineEvent } from '../../kernel/index.js';
import manifest from './module.json' with { type: 'json' };

// Quantities come from validated orders (1–1,000 units): readers may rely on at least one.
const Line = z.object({ productId: z.uuid(), quantity: z.number().int().min(1) });

/** A new order, stored as pending and priced; catalog reserves its items next. */
export const OrderPlaced = defineEvent(
  'orders.OrderPlaced',
  1,
  z.object({ orderId: z.uuid(), customerId: z.string(), totalCents: z.number().int(), items: z.array(Line) }),
);

/** Stock held and payment captured: the order will ship. */
export const OrderConfirmed = defineEvent(
  'orders.OrderConfirmed',
  1,
  z.object({ orderId: z.uuid(), customerId: z.string(), totalCents: z.number().int(), items: z.array(Line) }),
);

export const CancelReason = z.enum(['out_of_stock', 'payment_declined']);

/** The order will not be fulfilled; whatever was held for it is released. */
export const OrderCancelled = defineEvent('orders.OrderCancelled', 1, z.object({ orderId: z.uuid(), reason: CancelReason }));

export const OrderStatus = z.enum(['pending', 'confirmed', 'cancelled']);

/** An order as the HTTP API returns it. */
export const Order = z.object({
  id: z.uuid(),
  customerId: z.string(),
  status: OrderStatus,
  cancelReason: CancelReason.optional(),
  totalCents: z.number().int(),
  items: z.array(z.object({ productId: z.uuid(), quantity: z.number().int(), unitPriceCents: z.number().int() })),
});
export type Order = z.infer<typeof Order>;

// Orders' reading of the events that settle an order.
export const StockReservationFailedForOrders = consumes('catalog.StockReservationFailed', 1, z.object({ orderId: z.uuid() }));
export const PaymentCapturedForOrders = consumes('payments.PaymentCaptured', 1, z.object({ orderId: z.uuid() }));
export const PaymentDeclinedForOrders = consumes('payments.PaymentDeclined', 1, z.object({ orderId: z.uuid() }));

/** What every process knows of orders, wherever it runs (ADR 0010). */
export const ordersContract = defineContract({
  name: 'orders',
  events: [OrderPlaced, OrderConfirmed, OrderCancelled],
  consumes: {
    'confirm-order': PaymentCapturedForOrders,
    'cancel-out-of-stock': StockReservationFailedForOrders,
    'cancel-payment-declined': PaymentDeclinedForOrders,
  },
  dependsOn: manifest.dependsOn,
});
