/**
 * The public surface of payments: its contract (API, events, the events it
 * consumes). Other modules import this file only (the composition root and
 * tests also import module.ts, the implementation entry). It stays
 * here when `npm run extract -- payments` moves the implementation
 * (module.ts and internal/) to extracted/payments/.
 */
export { paymentsContract, Wallet, PaymentCaptured, PaymentDeclined } from './payments.contract.js';
