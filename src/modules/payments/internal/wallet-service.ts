import { AppError, type ModuleDb } from '../../../kernel/index.js';
import type { Wallet } from '../payments.contract.js';

export interface WalletService {
  createWallet(wallet: Wallet): Promise<Wallet>;
  getWallet(customerId: string): Promise<Wallet | undefined>;
}

export function createWalletService(db: ModuleDb): WalletService {
  return {
    async createWallet(wallet) {
      const inserted = await db.read((k) =>
        k('wallets').insert({ customer_id: wallet.customerId, balance_cents: wallet.balanceCents }).onConflict('customer_id').ignore().returning('customer_id'),
      );
      if (inserted.length === 0) throw new AppError('CONFLICT', 'PAYMENTS.WALLET_EXISTS', `customer ${wallet.customerId} already has a wallet`);
      return wallet;
    },
    async getWallet(customerId) {
      const row = await db.read((k) => k('wallets').where({ customer_id: customerId }).first());
      return row && { customerId: row.customer_id, balanceCents: Number(row.balance_cents) };
    },
  };
}
