/**
 * Kinds of failure the kit knows, each with the HTTP status it maps to.
 * This is the only table that turns errors into statuses.
 */
export const ERROR_KINDS = {
  /** 400: the input does not match the schema. */
  BAD_REQUEST: 400,
  /** 401: a call between services without a valid service token. */
  UNAUTHENTICATED: 401,
  /** 403: a calling module that does not declare a dependency on the called one. */
  FORBIDDEN: 403,
  /** 404: the addressed resource does not exist. */
  NOT_FOUND: 404,
  /** 405: the path exists, the method does not (the `Allow` header lists the one that does). */
  METHOD_NOT_ALLOWED: 405,
  /** 409: the request conflicts with existing state (duplicate key, already exists). */
  CONFLICT: 409,
  /** 413: the request body is larger than the limit. */
  PAYLOAD_TOO_LARGE: 413,
  /** 415: the request body is not JSON. */
  UNSUPPORTED_MEDIA_TYPE: 415,
  /** 422: well-formed input that refers to things that cannot be used (unknown product). */
  UNPROCESSABLE: 422,
  /** 429: the work behind the route lags; come back after `Retry-After` seconds. */
  TOO_MANY_REQUESTS: 429,
  /** 503: a dependency (database, remote module, broker) is unavailable. */
  UNAVAILABLE: 503,
  /** 504: a dependency did not answer in time. */
  TIMEOUT: 504,
  /** 508: a request proxied by one gateway would be proxied again (two processes send a module's routes to each other). */
  LOOP_DETECTED: 508,
  /** 500: a bug or an unexpected failure; details are logged, never sent. */
  INTERNAL: 500,
} as const;

export type ErrorKind = keyof typeof ERROR_KINDS;

/**
 * The kind whose status is `status`, for errors that arrive as an HTTP status
 * (a remote module's answer, a library's http-error).
 *
 * @example
 * kindOfStatus(404); // 'NOT_FOUND'
 */
export function kindOfStatus(status: number): ErrorKind | undefined {
  return (Object.keys(ERROR_KINDS) as ErrorKind[]).find((kind) => ERROR_KINDS[kind] === status);
}

export interface AppErrorOptions {
  details?: unknown;
  cause?: unknown;
}

/** The JSON shape of every error the kit sends or receives. */
export interface ErrorBody {
  error: { code: string; message: string; details?: unknown };
}

/**
 * The one error class of the kit: a kind (which fixes the HTTP status) and a
 * namespaced code such as `ORDERS.NOT_FOUND` that clients can rely on.
 *
 * @example
 * throw new AppError('NOT_FOUND', 'ORDERS.NOT_FOUND', `order ${id} does not exist`);
 */
export class AppError extends Error {
  readonly kind: ErrorKind;
  readonly code: string;
  readonly details: unknown;

  constructor(kind: ErrorKind, code: string, message: string, options: AppErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AppError';
    this.kind = kind;
    this.code = code;
    this.details = options.details;
  }

  /** The HTTP status for this error, from {@link ERROR_KINDS}. */
  get status(): number {
    return ERROR_KINDS[this.kind];
  }

  /** Any thrown value as an AppError; unknown errors become INTERNAL with the cause kept. */
  static from(error: unknown): AppError {
    if (error instanceof AppError) return error;
    return new AppError('INTERNAL', 'KERNEL.INTERNAL', 'internal error', { cause: error });
  }

  /** The body sent to clients. INTERNAL errors never carry their cause. */
  toBody(): ErrorBody {
    const body: ErrorBody = { error: { code: this.code, message: this.message } };
    if (this.details !== undefined && this.kind !== 'INTERNAL') body.error.details = this.details;
    return body;
  }

  /** Rebuilds an error received as JSON with its HTTP status (from a remote module or a JSON binding). */
  static fromBody(body: unknown, status: number): AppError {
    const kind = kindOfStatus(status) ?? (status >= 400 && status < 500 ? 'BAD_REQUEST' : 'INTERNAL');
    const error = (body as Partial<ErrorBody> | undefined)?.error;
    if (!error || typeof error.code !== 'string') {
      return new AppError(kind, 'KERNEL.BAD_ERROR_BODY', `malformed error body with status ${status}`, { details: body });
    }
    return new AppError(kind, error.code, String(error.message ?? error.code), { details: error.details });
  }
}
