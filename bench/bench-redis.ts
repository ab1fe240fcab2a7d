import { Redis } from 'ioredis';

/** Deletes a bench's BullMQ keys (`<prefix>:*`); a failure is reported, never thrown (it runs on the way out). */
export async function dropRedisKeys(redisUrl: string, prefix: string): Promise<void> {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1, lazyConnect: true });
  try {
    await redis.connect();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== '0');
  } catch (error) {
    console.error(`could not delete the Redis keys ${prefix}:*:`, error);
  } finally {
    redis.disconnect();
  }
}
