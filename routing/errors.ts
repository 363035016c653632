// Errors of the routing layer. Each carries an HTTP-ish `status` so the admin API (in src/) can answer without a
// mapping table of its own, and a stable `code` for clients and logs. Messages are written for the operator who
// reads them in a CLI: they say what is wrong and what to do about it.

export const RoutingErrorCode = {
  VALIDATION: 'VALIDATION',
  NOT_FOUND: 'NOT_FOUND',
  ROUTE_CONFLICT: 'ROUTE_CONFLICT',
  FLIP_ABORTED: 'FLIP_ABORTED',
  PREFLIGHT_FAILED: 'PREFLIGHT_FAILED',
  STATE_STORE: 'STATE_STORE',
  UNAVAILABLE: 'UNAVAILABLE',
  INVALID_TICKET: 'INVALID_TICKET',
  WARM_UP_FAILED: 'WARM_UP_FAILED',
} as const;

export type RoutingErrorCode = (typeof RoutingErrorCode)[keyof typeof RoutingErrorCode];

export class RoutingError extends Error {
  readonly status: number;
  readonly code: RoutingErrorCode;

  constructor(code: RoutingErrorCode, status: number, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.status = status;
  }
}

/** 400: the input (rules, a name, a request body) is invalid. The message names the offending key. */
export class ValidationError extends RoutingError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(RoutingErrorCode.VALIDATION, 400, message, options);
  }
}

/** 404: an unknown batch. */
export class NotFoundError extends RoutingError {
  constructor(message: string) {
    super(RoutingErrorCode.NOT_FOUND, 404, message);
  }
}

/**
 * 409: the operation conflicts with the current state: an illegal transition (flip of a batch already on the
 * target, rollback of a promoted batch without force), a move already running on the same topics, or a failed
 * pre-check that was not forced.
 */
export class RouteConflictError extends RoutingError {
  readonly details: readonly string[];

  constructor(message: string, details: readonly string[] = []) {
    super(RoutingErrorCode.ROUTE_CONFLICT, 409, message);
    this.details = details;
  }
}

/**
 * 409: a compare-and-set commit was refused because the stored version moved on: another writer (another
 * instance, or another store handle on the same file) committed first. Nothing was overwritten and nothing was
 * switched; the caller reloads (the store's subscribers already received the newer state) and retries.
 */
export class StaleVersionError extends RouteConflictError {
  readonly expectedVersion: number;
  readonly actualVersion: number;

  constructor(message: string, expectedVersion: number, actualVersion: number) {
    super(message, [`expected version ${expectedVersion}, the store is at version ${actualVersion}`]);
    this.expectedVersion = expectedVersion;
    this.actualVersion = actualVersion;
  }
}

/**
 * 503: the barrier aborted the move (drain timeout, or a write whose outcome is unknown on the old cluster).
 * The route did not change and the held requests went to the old cluster; the operation can be retried.
 * `result` carries the barrier's report (timings, partitions, counts) for the API answer.
 */
export class FlipAbortedError<R = unknown> extends RoutingError {
  readonly result: R;

  constructor(message: string, result: R) {
    super(RoutingErrorCode.FLIP_ABORTED, 503, message);
    this.result = result;
  }
}

/** 503: the pre-flight hook could not run (e.g. a cluster did not answer). */
export class PreflightError extends RoutingError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(RoutingErrorCode.PREFLIGHT_FAILED, 503, message, options);
  }
}

/** 503: the control plane is shutting down and accepts no route changes. */
export class UnavailableError extends RoutingError {
  constructor(message: string) {
    super(RoutingErrorCode.UNAVAILABLE, 503, message);
  }
}

/** 500: the state store could not load or save; for a write this means nothing was switched. */
export class StateStoreError extends RoutingError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(RoutingErrorCode.STATE_STORE, 500, message, options);
  }
}

/** 500: the data path misused a barrier ticket (completed twice, or a foreign object). A bug, not an input. */
export class InvalidTicketError extends RoutingError {
  constructor(message: string) {
    super(RoutingErrorCode.INVALID_TICKET, 500, message);
  }
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
