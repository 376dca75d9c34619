/** Why a GraphDriver refused: lets the caller map the failure (404, 409, 500) without parsing messages. */
export type GraphDriverErrorKind = "not-found" | "already-exists" | "has-dependents" | "invalid-state" | "unsupported";

export class GraphDriverError extends Error {
  constructor(
    readonly kind: GraphDriverErrorKind,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = "GraphDriverError";
  }
}
