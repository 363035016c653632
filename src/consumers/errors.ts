// Errors of consumer moves, with the HTTP status the admin API answers (src/admin/http.ts toHttpError reads
// `status`, `details` and `result`).

/** 400: bad input (group name, direction). */
export class ConsumerInputError extends Error {
  readonly status = 400;
  constructor(message: string) {
    super(message);
    this.name = 'ConsumerInputError';
  }
}

/** 404: no such wave, or the group has nothing to move. */
export class ConsumerNotFoundError extends Error {
  readonly status = 404;
  constructor(message: string) {
    super(message);
    this.name = 'ConsumerNotFoundError';
  }
}

/** 409: the move is refused (group not empty, not ready, …); `details` lists every reason, `result` the plan. */
export class ConsumerMoveRefusedError extends Error {
  readonly status = 409;
  readonly code = 'CONSUMER_MOVE_REFUSED';
  readonly details: readonly string[];
  readonly result: unknown;
  constructor(message: string, details: readonly string[], result: unknown) {
    super(message);
    this.name = 'ConsumerMoveRefusedError';
    this.details = details;
    this.result = result;
  }
}
