/**
 * The kit side of `npm run bench:http`: the shop exactly as users start it
 * (all four modules, default settings, LOG_LEVEL info), on the bench database.
 * Run as a child process by http-bench.ts; reports its port over IPC.
 *
 * Env: BENCH_DB_URL (required); everything else comes from process.env like src/main.ts.
 */
import { createApp, loadConfig } from '../src/kernel/index.js';
import { SHOP_MODULES } from '../src/app.js';

const url = process.env.BENCH_DB_URL;
if (!url) throw new Error('BENCH_DB_URL is required');

const app = await createApp({ modules: SHOP_MODULES, config: loadConfig({ ...process.env, PORT: '0', DATABASE_URL: url }) });
const { port } = await app.start();
process.send?.({ type: 'ready', port });

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  await app.stop();
  process.exit(0);
}
// The bench asks for our CPU time around a measured phase (CPU per request is
// far less sensitive to a busy machine than req/s).
process.on('message', (message: { type?: string }) => {
  if (message.type === 'cpu') process.send?.({ type: 'cpu', usage: process.cpuUsage() });
});
process.once('SIGTERM', () => void stop());
process.once('SIGINT', () => void stop());
process.once('disconnect', () => void stop());
