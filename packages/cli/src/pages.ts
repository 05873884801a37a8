/**
 * The server sends long lists a page at a time (`next` is the cursor of the page after).
 * This follows the pages until the list ends or `max` items are in, asking for no more
 * than it needs.
 */
export async function collectPages<T>(
  fetchPage: (query: { limit: number; cursor?: string }) => Promise<{ items: T[]; next: string | null }>,
  o: { max?: number | undefined; pageSize: number },
): Promise<T[]> {
  const items: T[] = [];
  let cursor: string | undefined;
  do {
    const want = o.max === undefined ? o.pageSize : Math.min(o.pageSize, o.max - items.length);
    const page = await fetchPage({ limit: want, ...(cursor ? { cursor } : {}) });
    items.push(...page.items);
    cursor = page.next ?? undefined;
  } while (cursor && (o.max === undefined || items.length < o.max));
  return items;
}
