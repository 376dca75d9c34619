/**
 * Typed errors. Every error the engine raises on purpose is one of these; the API maps them to HTTP
 * status codes in exactly one place (`statusOf`), the CLI prints their message.
 */
export class BunkerError extends Error {
  readonly status: number = 500;
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** 400: the request itself is wrong (bad parameter, malformed body). */
export class InvalidParameterError extends BunkerError {
  override readonly status = 400;
}
/** 401 */
export class UnauthorizedError extends BunkerError {
  override readonly status = 401;
}
/** 403 */
export class ForbiddenError extends BunkerError {
  override readonly status = 403;
}
/** 404: the named object does not exist. `docker run` relies on this to trigger a pull. */
export class NotFoundError extends BunkerError {
  override readonly status = 404;
}
/** 409: the object exists but its state forbids the operation (in use, running, name taken). */
export class ConflictError extends BunkerError {
  override readonly status = 409;
}
/** 304: nothing to do (start of a running container, stop of a stopped one). */
export class NotModifiedError extends BunkerError {
  override readonly status = 304;
}
/** 501 */
export class NotImplementedError extends BunkerError {
  override readonly status = 501;
}
/** 503 */
export class UnavailableError extends BunkerError {
  override readonly status = 503;
}
/** 500 with a message that is safe to show: a failure of the host or of a dependency. */
export class SystemError extends BunkerError {}

/** The one mapping from an error to an HTTP status. Unknown errors are 500. */
export function statusOf(err: unknown): number {
  return err instanceof BunkerError ? err.status : 500;
}

export function messageOf(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
