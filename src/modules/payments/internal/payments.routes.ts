import { z } from 'zod';
import { AppError, route } from '../../../kernel/index.js';
import type { WalletService } from './wallet-service.js';

const CustomerId = z.string().trim().min(1).max(64).regex(/^[\w.:-]+$/, 'letters, digits and _ . : - only');
const NewWallet = z.strictObject({ customerId: CustomerId, balanceCents: z.number().int().min(0).max(1_000_000_000_000) });

export function paymentsRoutes(wallets: WalletService) {
  return [
    route({
      method: 'post',
      path: '/wallets',
      body: NewWallet,
      handler: async ({ body }) => ({ status: 201, body: await wallets.createWallet(body) }),
    }),
    route({
      method: 'get',
      path: '/wallets/:customerId',
      params: z.strictObject({ customerId: CustomerId }),
      handler: async ({ params }) => {
        const wallet = await wallets.getWallet(params.customerId);
        if (!wallet) throw new AppError('NOT_FOUND', 'PAYMENTS.WALLET_NOT_FOUND', `customer ${params.customerId} has no wallet`);
        return { status: 200, body: wallet };
      },
    }),
  ];
}
