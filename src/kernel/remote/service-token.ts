import { jwtVerify, SignJWT, errors as joseErrors } from 'jose';
import { AppError } from '../errors/app-error.js';

/** Lifetime of a service token: short, so a leaked one is soon worthless. */
export const SERVICE_TOKEN_TTL_S = 60;
/** A caller mints a new token once its current one has less than this left. */
const RENEW_BEFORE_S = 20;
/** Verified tokens remembered by a callee (each only until it expires). */
const VERIFIED_CACHE_LIMIT = 10_000;

const ALGORITHM = 'HS256';
/** Clock difference between hosts that token checks forgive. */
const CLOCK_TOLERANCE_S = 5;

function keyOf(secret: string): Uint8Array {
  return new TextEncoder().encode(secret);
}

/**
 * Mints the short-lived tokens a calling module sends to another module's
 * service: HS256 with `SERVICE_TOKEN_SECRET`, issuer = calling module,
 * audience = called module, expiry 60 s. A token is reused until 20 s before
 * it expires, so signing costs one HMAC per caller and callee every 40 s
 * rather than one per call.
 *
 * @example
 * const token = await new ServiceTokenIssuer(secret).tokenFor('orders', 'catalog');
 */
export class ServiceTokenIssuer {
  readonly #key: Uint8Array;
  readonly #cache = new Map<string, { token: string; renewAt: number }>();

  constructor(secret: string) {
    this.#key = keyOf(secret);
  }

  async tokenFor(caller: string, callee: string): Promise<string> {
    const key = `${caller}>${callee}`;
    const now = Math.floor(Date.now() / 1000);
    const cached = this.#cache.get(key);
    if (cached && cached.renewAt > now) return cached.token;
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: ALGORITHM, typ: 'JWT' })
      .setIssuer(caller)
      .setAudience(callee)
      .setIssuedAt(now)
      .setExpirationTime(now + SERVICE_TOKEN_TTL_S)
      .sign(this.#key);
    this.#cache.set(key, { token, renewAt: now + SERVICE_TOKEN_TTL_S - RENEW_BEFORE_S });
    return token;
  }
}

const unauthenticated = (message: string) => new AppError('UNAUTHENTICATED', 'KERNEL.UNAUTHENTICATED', message);

/**
 * Checks the token of a call to `POST /internal/<module>/<operation>`:
 * signature, audience, expiry (at most 60 s after issue), and that the
 * issuing module declares a dependency on the called one. The declared module
 * graph (`module.json`) is the authorization policy.
 *
 * @example
 * const caller = await verifier.verify(req.headers.authorization, 'catalog'); // 'orders'
 */
export class ServiceTokenVerifier {
  readonly #key: Uint8Array | undefined;
  readonly #dependsOn: ReadonlyMap<string, readonly string[]>;
  readonly #verified = new Map<string, { issuer: string; audience: string; expiresAt: number }>();

  /** `secret` undefined: this process takes no internal calls (every call is a 401). */
  constructor(secret: string | undefined, dependsOn: ReadonlyMap<string, readonly string[]>) {
    this.#key = secret === undefined ? undefined : keyOf(secret);
    this.#dependsOn = dependsOn;
  }

  /** The calling module; throws a 401 (no, bad or expired token) or a 403 (undeclared dependency) AppError. */
  async verify(authorization: string | undefined, audience: string): Promise<string> {
    const issuer = await this.authenticate(authorization, audience);
    this.authorize(issuer, audience);
    return issuer;
  }

  /** The module that signed a valid token for `audience`; a 401 AppError otherwise. */
  async authenticate(authorization: string | undefined, audience: string): Promise<string> {
    if (this.#key === undefined) throw unauthenticated('this process has no SERVICE_TOKEN_SECRET, so it takes no calls from other services');
    if (authorization === undefined || !authorization.startsWith('Bearer ')) throw unauthenticated('a service token is required (authorization: Bearer <token>)');
    return this.#claimsOf(authorization.slice('Bearer '.length), audience);
  }

  /** Throws a 403 AppError unless `caller` declares a dependency on `audience`. */
  authorize(caller: string, audience: string): void {
    if (!this.#dependsOn.get(caller)?.includes(audience)) {
      throw new AppError('FORBIDDEN', 'KERNEL.FORBIDDEN', `module ${caller} does not declare a dependency on ${audience} (module.json dependsOn), so it may not call it`);
    }
  }

  async #claimsOf(token: string, audience: string): Promise<string> {
    const now = Date.now() / 1000;
    const cached = this.#verified.get(token);
    if (cached && cached.expiresAt > now) {
      if (cached.audience !== audience) throw unauthenticated(`the service token is for ${cached.audience}, not ${audience}`);
      return cached.issuer;
    }
    try {
      const { payload } = await jwtVerify(token, this.#key!, {
        algorithms: [ALGORITHM],
        audience,
        requiredClaims: ['iss', 'iat', 'exp'],
        maxTokenAge: SERVICE_TOKEN_TTL_S,
        // Hosts' clocks drift a little: a token minted a few seconds "in the future" is still good.
        clockTolerance: CLOCK_TOLERANCE_S,
      });
      if (payload.exp! - payload.iat! > SERVICE_TOKEN_TTL_S) throw unauthenticated(`a service token may live at most ${SERVICE_TOKEN_TTL_S} s`);
      if (this.#verified.size >= VERIFIED_CACHE_LIMIT) this.#verified.clear();
      this.#verified.set(token, { issuer: payload.iss!, audience, expiresAt: payload.exp! });
      return payload.iss!;
    } catch (error) {
      if (error instanceof AppError) throw error;
      if (error instanceof joseErrors.JWTExpired) throw unauthenticated('the service token has expired');
      if (error instanceof joseErrors.JOSEError) throw unauthenticated(`the service token is not valid: ${error.message}`);
      throw error;
    }
  }
}
