/**
 * The public surface of orders: its contract (API, events, the events it
 * consumes). Other modules import this file only (the composition root and
 * tests also import module.ts, the implementation entry). It stays
 * here when `npm run extract -- orders` moves the implementation
 * (module.ts and internal/) to extracted/orders/.
 */
export { ordersContract, Order, OrderPlaced, OrderConfirmed, OrderCancelled, OrderStatus, CancelReason } from './orders.contract.js';
