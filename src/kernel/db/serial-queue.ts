/**
 * Runs async tasks one at a time, in call order. Hand-written because it is
 * eight lines and a library would add more surface than it saves.
 */
export class SerialQueue {
  #tail: Promise<unknown> = Promise.resolve();

  run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.#tail.then(task, task);
    this.#tail = result.catch(() => undefined);
    return result;
  }
}
