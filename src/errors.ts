// MatrixError: the one error type services throw; http/app.ts turns it into `{errcode, error}` JSON.

/**
 * An error with a Matrix `errcode` (spec "Standard error response"), the HTTP status to answer with,
 * and optional extra fields merged into the JSON body (e.g. `retry_after_ms`, `flows`, `session`).
 */
export class MatrixError extends Error {
  readonly errcode: string;
  readonly status: number;
  readonly extra: Record<string, unknown> | undefined;

  constructor(errcode: string, message: string, status = 400, extra?: Record<string, unknown>) {
    super(message);
    this.name = 'MatrixError';
    this.errcode = errcode;
    this.status = status;
    this.extra = extra;
  }

  /** The JSON body of the error response; `extra` cannot override errcode or error. */
  toJSON(): Record<string, unknown> {
    return { ...this.extra, errcode: this.errcode, error: this.message };
  }
}

export function isMatrixError(e: unknown): e is MatrixError {
  return e instanceof MatrixError;
}
