import { DomainError } from './errors.ts';

/**
 * Keyset paging: a page is the items after the last one of the page before, in the
 * list's own order, so it costs the same however deep it is and is stable while rows are
 * added. The cursor is that last item's sort key, opaque to clients (base64url of JSON).
 */
export interface Page<T> {
  items: T[];
  next: string | null;
}

export type CursorKey = readonly (string | number)[];

export function encodeCursor(key: CursorKey): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

/** The key in a cursor, checked against the shape the list uses; a cursor from elsewhere is a 400 on query.cursor. */
export function decodeCursor<const S extends readonly ('string' | 'number')[]>(
  cursor: string | undefined,
  shape: S,
): { [I in keyof S]: S[I] extends 'number' ? number : string } | undefined {
  if (cursor === undefined) return undefined;
  let key: unknown;
  try {
    key = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    key = null;
  }
  if (
    !Array.isArray(key) ||
    key.length !== shape.length ||
    key.some((v, i) => typeof v !== shape[i] || (typeof v === 'string' && v.length > 200))
  )
    throw new DomainError('invalid_request', 'The cursor is not one this list gave out; start again without it.', {
      'query.cursor': 'must be the "next" value of the page before',
    });
  return key as never;
}

/** A page from up to `limit + 1` rows in list order: the extra row, if any, says there is a next page. */
export function pageOf<T>(rows: readonly T[], limit: number, keyOf: (row: T) => CursorKey): Page<T> {
  const items = rows.slice(0, limit);
  return { items, next: rows.length > limit ? encodeCursor(keyOf(items[items.length - 1]!)) : null };
}
