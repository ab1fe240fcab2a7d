/**
 * The kit side of `npm run bench:http`: the shop exactly as users start it
 * (all four modules, default settings, LOG_LEVEL info), on the bench database.
 * Run as a child process by http-bench.ts; reports its port over IPC.
 *
 * Env: BENCH_DB_URL (required); everything else comes from process.env like src/main.ts.
 */
import { createApp, loadConfig } from '../src/kernel/index.js';
import { SHOP_MODULES } from '../src/app.js';
import { serveBenchChild } from './bench-child.js';

const url = process.env.BENCH_DB_URL;
if (!url) throw new Error('BENCH_DB_URL is required');

const app = await createApp({ modules: SHOP_MODULES, config: loadConfig({ ...process.env, PORT: '0', DATABASE_URL: url }) });
const { port } = await app.start();
process.send?.({ type: 'ready', port });

serveBenchChild(() => app.stop());
