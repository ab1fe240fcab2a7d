/**
 * Raw BullMQ with the kit's batches: a producer's "commit" adds its events as
 * jobs of up to a relay round each (one job per relay-sized batch, as the kit
 * adds one job per relay round and handler), and a worker with the kit's
 * options runs a no-op processor. No database: the ceiling of the BullMQ
 * pipelines, not a baseline of the same work.
 */
import type { EventsJob } from './events-job.js';
import { batchWorker, BatchQueue, benchEnvelope, type Envelope } from './events-bullmq.js';
import type { OpenPipeline, Recorder } from './events-phases.js';

export function rawPipeline(job: EventsJob, recorder: Recorder): OpenPipeline {
  let n = 0;
  return async ({ relay }) => {
    const queue = await BatchQueue.open(job.redisUrl, job.keyPrefix, job.delivery);
    // Handled = the processor ran (for the others: the handler's inbox transaction committed).
    const worker = relay
      ? batchWorker(job.redisUrl, job.keyPrefix, job.delivery, async (j) => {
          for (const envelope of j.data.envelopes) recorder.handled(envelope.id);
        })
      : undefined;
    await worker?.waitUntilReady();
    return {
      async produce(size) {
        const envelopes = Array.from({ length: size }, () => benchEnvelope(n++));
        const jobs: Envelope[][] = [];
        for (let i = 0; i < size; i += job.delivery.relayBatch) jobs.push(envelopes.slice(i, i + job.delivery.relayBatch));
        await Promise.all(jobs.map((batch) => queue.add(batch)));
        return envelopes.map((e) => e.id);
      },
      async close() {
        await worker?.close();
        await queue.close();
      },
    };
  };
}
