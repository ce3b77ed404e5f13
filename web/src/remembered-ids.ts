/**
 * Ids the page remembers in localStorage (the tasks and the batches started from this browser),
 * newest first. Storage that is disabled, full or holds something else reads as an empty list.
 */

export function loadIds(key: string, max: number): string[] {
  try {
    const v = JSON.parse(localStorage.getItem(key) ?? '[]') as unknown;
    return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string').slice(0, max) : [];
  } catch {
    return [];
  }
}

/** Keep the ids of the cards in `list` matching `selector` (their `data-id`), in page order. */
export function saveIds(key: string, max: number, list: HTMLElement, selector: string): void {
  try {
    const ids = [...list.querySelectorAll<HTMLElement>(selector)].map((el) => el.dataset.id);
    localStorage.setItem(key, JSON.stringify(ids.slice(0, max)));
  } catch {
    /* storage disabled */
  }
}
