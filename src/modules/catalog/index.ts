/**
 * The public surface of catalog: its contract (API, events, the events it
 * consumes). Other modules import this file only (the composition root and
 * tests also import module.ts, the implementation entry). It stays
 * here when `npm run extract -- catalog` moves the implementation
 * (module.ts and internal/) to extracted/catalog/.
 */
export { catalogApi, catalogContract, Product, OrderLine, StockReserved, StockReservationFailed, type CatalogApi } from './catalog.contract.js';
