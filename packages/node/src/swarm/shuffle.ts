/**
 * Fisher–Yates, in place: pullers of one blob ask for its blocks in
 * different orders, so they soon hold different blocks to trade.
 */
export function shuffle<T> (items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [items[i], items[j]] = [items[j], items[i]]
  }
  return items
}
