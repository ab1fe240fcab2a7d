import type { Server } from 'node:http';
import { performance } from 'node:perf_hooks';

/**
 * The share of the drain timeout that taking what waits in the kernel may
 * take; the rest is for the last requests taken. Most of it: on PGlite a
 * request taken is answered about as fast as the next is taken.
 */
const ACCEPT_SHARE = 0.8;

/** Loop turns in a row without a new connection or request after which nothing the kernel accepted is left unread. */
const QUIET_TURNS = 2;

const nextTurn = () => new Promise<void>((done) => setImmediate(done));

/**
 * Stops an HTTP server without cutting a request a client already sent it.
 *
 * Node's `server.close()` does not: it closes the listening socket, and the
 * kernel resets every connection still waiting in its accept queue; and it
 * closes the connections it calls idle, which include those accepted but
 * whose request is not read yet. A busy process (PGlite runs on the event
 * loop) holds hundreds of both during a burst: each client sees
 * `ECONNRESET` for a request it sent before the process stopped taking any
 * (docs/benchmarks.md, "Rolling restarts"). Hand-written: the libraries that
 * stop servers (stoppable, http-terminator) close at once as well.
 *
 * @example
 * const drain = new ServerDrain(server);
 * drain.closeAfterEachAnswer();            // on SIGTERM: keep-alive clients move on
 * const drained = await drain.close(10_000); // serve what was sent, then stop
 */
export class ServerDrain {
  readonly #server: Server;
  /** Connections accepted plus requests read: unchanged over a loop turn means the turn found nothing new. */
  #arrivals = 0;
  #closeConnections = false;

  constructor(server: Server) {
    this.#server = server;
    server.on('connection', () => {
      this.#arrivals += 1;
    });
    // Before the app's own listener, so the answer knows it is the connection's last.
    server.prependListener('request', (_req, res) => {
      this.#arrivals += 1;
      if (this.#closeConnections) res.shouldKeepAlive = false;
    });
  }

  /**
   * From now on every answer carries `Connection: close` and its connection
   * closes once it is sent: a keep-alive client opens its next connection
   * through the load balancer, which no longer routes it here.
   */
  closeAfterEachAnswer(): void {
    this.#closeConnections = true;
  }

  /**
   * Serves every connection the kernel already accepted and every request
   * already sent (until the server goes a loop turn or two without a new one,
   * for at most 80 % of `timeoutMs`), then stops listening, closes the idle
   * connections and waits for the requests in flight. Resolves true once
   * every connection closed; false if some were still busy at `timeoutMs`
   * and were closed then.
   */
  async close(timeoutMs: number): Promise<boolean> {
    this.closeAfterEachAnswer();
    const started = performance.now();
    await this.#untilQuiet(started + timeoutMs * ACCEPT_SHARE);
    // Node's close() also closes the idle connections: after the quiet turns, none of them holds an unread request.
    const closed = new Promise<void>((done) => this.#server.close(() => done()));
    const left = Math.max(0, timeoutMs - (performance.now() - started));
    const drained = await Promise.race([closed.then(() => true), new Promise<boolean>((done) => setTimeout(done, left, false).unref())]);
    if (!drained) {
      this.#server.closeAllConnections();
      await closed;
    }
    return drained;
  }

  /**
   * Waits for loop turns that bring no new connection and no new request:
   * every poll of the event loop accepts what waits in the accept queue and
   * reads what waits on accepted connections, so such a turn means the
   * kernel holds nothing more for this server.
   */
  async #untilQuiet(deadline: number): Promise<void> {
    let quiet = 0;
    let seen = this.#arrivals;
    while (quiet < QUIET_TURNS && performance.now() < deadline) {
      await nextTurn();
      quiet = this.#arrivals === seen ? quiet + 1 : 0;
      seen = this.#arrivals;
    }
  }
}
