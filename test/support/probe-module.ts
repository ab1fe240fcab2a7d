import { z } from 'zod';
import { consumes, defineModule, type EventHandlerDefinition } from '../../src/kernel/index.js';

/** What the probe module's handlers read of orders.OrderPlaced. */
export const OrderPlacedProbe = consumes('orders.OrderPlaced', 1, z.object({ orderId: z.uuid() }));

/**
 * A module that exists only in tests: no tables of its own (the kernel still
 * gives it an outbox, inbox and dead letters), just the handlers a test needs,
 * typically ones that fail on purpose.
 */
export function probeModule(handlers: EventHandlerDefinition[]) {
  return defineModule({
    name: 'probe',
    events: [],
    dependsOn: [],
    migrationsDir: false,
    setup: () => ({ handlers }),
  });
}
