/**
 * Canonical JSON for signatures that outlive one HTTP request (federated listings, key
 * rotations): object keys sorted by code unit, no whitespace, numbers and strings as
 * JSON.stringify writes them (the rules of RFC 8785 for the values we sign: integers,
 * strings, booleans, null). Two servers that parse the same object get the same bytes,
 * whatever order the sender wrote its keys in.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value)) throw new Error('canonical JSON has no NaN or Infinity');
    if (value === undefined) throw new Error('canonical JSON has no undefined');
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}
