/**
 * The public surface of shipping: its contract (API, events, the events it
 * consumes). Other modules import this file only (the composition root and
 * tests also import module.ts, the implementation entry). It stays
 * here when `npm run extract -- shipping` moves the implementation
 * (module.ts and internal/) to extracted/shipping/.
 */
export { shippingContract, Shipment } from './shipping.contract.js';
