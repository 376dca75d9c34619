import { InvalidParameterError } from "../errors";

/** Parse a JSON request body; malformed JSON is a 400 with a clear message. An empty body is `{}`. */
export async function readJson<T = Record<string, unknown>>(request: Request): Promise<T> {
  const text = await request.text();
  if (text.trim() === "") return {} as T;
  try {
    const value: unknown = JSON.parse(text);
    if (value === null || typeof value !== "object" || Array.isArray(value)) throw new Error("expected a JSON object");
    return value as T;
  } catch (err) {
    throw new InvalidParameterError(`invalid JSON: ${(err as Error).message}`);
  }
}
