/**
 * The part of Go's text/template that `--format` flags use in practice: `{{.Field}}`, `{{.A.B}}`, `{{.}}`,
 * `{{json .X}}`, `{{upper .X}}`, `{{lower .X}}`, `{{join .X ","}}`, and a leading `table` for a headed table.
 * Values print the way Go's fmt does (`[a b]` for lists, `map[k:v]` for objects, `<nil>`).
 */
export function goString(value: unknown): string {
  if (value === null || value === undefined) return "<nil>";
  if (Array.isArray(value)) return `[${value.map(goString).join(" ")}]`;
  if (typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b));
    return `map[${entries.map(([k, v]) => `${k}:${goString(v)}`).join(" ")}]`;
  }
  return String(value);
}

function lookup(data: unknown, path: string): unknown {
  if (path === ".") return data;
  let value = data;
  for (const key of path.slice(1).split(".")) {
    if (value === null || typeof value !== "object") return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

function evaluate(action: string, data: unknown): string {
  const words = action.trim().match(/"[^"]*"|\S+/g) ?? [];
  const [fn, arg, extra] = words;
  if (fn === undefined) return "";
  if (fn.startsWith(".")) return goString(lookup(data, fn));
  const value = arg ? lookup(data, arg) : undefined;
  switch (fn) {
    case "json":
      return JSON.stringify(value ?? null);
    case "upper":
      return goString(value).toUpperCase();
    case "lower":
      return goString(value).toLowerCase();
    case "join":
      return Array.isArray(value) ? value.map(goString).join(JSON.parse(extra ?? '""') as string) : goString(value);
    default:
      throw new Error(`template: function "${fn}" not defined`);
  }
}

/** Expands one template for one object. `\t` and `\n` written literally on the command line count as escapes. */
export function renderTemplate(template: string, data: unknown): string {
  const text = template.replace(/\\t/g, "\t").replace(/\\n/g, "\n");
  return text.replace(/\{\{-?\s*(.*?)\s*-?\}\}/g, (_, action: string) => evaluate(action, data));
}

/** Splits `table {{.A}}\t{{.B}}` into its template and whether a header row is wanted. */
export function parseFormat(format: string): { table: boolean; template: string } {
  const m = /^table\s+([\s\S]*)$/.exec(format);
  return m ? { table: true, template: m[1]! } : { table: false, template: format };
}

/**
 * Docker's tabwriter output (minimum cell width 10, padding 3): each tab-separated column is padded to its
 * widest cell, the last one is not.
 */
export function formatTable(rows: string[][]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, Math.max(cell.length + 3, 10))));
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join("").trimEnd() + "\n").join("");
}

/** Header of a table column from its field (`{{.ID}}` → `IMAGE ID` via `names`, else the field in capitals). */
export function tableHeader(template: string, names: Record<string, string>): string {
  const text = template.replace(/\\t/g, "\t");
  return text.replace(/\{\{\s*\.(\w+)\s*\}\}/g, (_, field: string) => names[field] ?? field.toUpperCase());
}
