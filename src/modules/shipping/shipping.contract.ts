import { z } from 'zod';

export const Shipment = z.object({ id: z.uuid(), orderId: z.uuid(), status: z.enum(['preparing']) });
export type Shipment = z.infer<typeof Shipment>;
