/**
 * Wires a benchmarked server process to the bench that spawned it: answers
 * CPU-time requests (CPU per request is far less sensitive to a busy machine
 * than req/s) and runs `stop` once on SIGTERM, SIGINT or when the bench goes
 * away without stopping it.
 */
export function serveBenchChild(stop: () => Promise<void>): void {
  let stopping = false;
  const stopOnce = () => {
    if (stopping) return;
    stopping = true;
    stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('message', (message: { type?: string }) => {
    if (message.type === 'cpu') process.send?.({ type: 'cpu', usage: process.cpuUsage() });
  });
  process.once('SIGTERM', stopOnce);
  process.once('SIGINT', stopOnce);
  process.once('disconnect', stopOnce);
}
