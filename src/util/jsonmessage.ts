/**
 * Docker's jsonmessage: one line of a pull/push/load/import/build response. The daemon writes these and the
 * CLI renders them; this is the wire shape both agree on.
 */
export interface JsonMessage {
  status?: string;
  id?: string;
  progressDetail?: { current?: number; total?: number };
  progress?: string;
  stream?: string;
  aux?: Record<string, unknown>;
  error?: string;
  errorDetail?: { message: string };
}
