// Kahn's algorithm choosing, at each step, the smallest ready node by a comparison function: the
// lexicographically smallest topological order (used by the reverse topological power ordering).

/** A binary min-heap ordered by `compare`. */
export class MinHeap<T> {
  private readonly items: T[] = [];
  constructor(private readonly compare: (a: T, b: T) => number) {}

  get size(): number {
    return this.items.length;
  }

  push(item: T): void {
    const a = this.items;
    a.push(item);
    let i = a.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.compare(a[i]!, a[parent]!) >= 0) break;
      [a[i], a[parent]] = [a[parent]!, a[i]!];
      i = parent;
    }
  }

  pop(): T | undefined {
    const a = this.items;
    if (a.length === 0) return undefined;
    const top = a[0]!;
    const last = a.pop()!;
    if (a.length > 0) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let smallest = i;
        if (l < a.length && this.compare(a[l]!, a[smallest]!) < 0) smallest = l;
        if (r < a.length && this.compare(a[r]!, a[smallest]!) < 0) smallest = r;
        if (smallest === i) break;
        [a[i], a[smallest]] = [a[smallest]!, a[i]!];
        i = smallest;
      }
    }
    return top;
  }
}

/**
 * Orders the nodes of `graph` so every node comes after the nodes it points at (its auth events),
 * picking among the ready nodes the smallest by `compare` each time. Edges to nodes outside the
 * graph are ignored. Nodes on a cycle (impossible for honest auth graphs) are never ready and are
 * left out.
 */
export function lexicographicalTopologicalSort(
  graph: ReadonlyMap<string, Iterable<string>>,
  compare: (a: string, b: string) => number,
): string[] {
  const waitingOn = new Map<string, number>();
  const dependants = new Map<string, string[]>();
  for (const [node, edges] of graph) {
    let n = 0;
    for (const target of new Set(edges)) {
      if (!graph.has(target) || target === node) continue;
      n++;
      let list = dependants.get(target);
      if (!list) dependants.set(target, (list = []));
      list.push(node);
    }
    waitingOn.set(node, n);
  }

  const ready = new MinHeap<string>(compare);
  for (const [node, n] of waitingOn) if (n === 0) ready.push(node);
  const order: string[] = [];
  while (ready.size > 0) {
    const node = ready.pop()!;
    order.push(node);
    for (const d of dependants.get(node) ?? []) {
      const left = waitingOn.get(d)! - 1;
      waitingOn.set(d, left);
      if (left === 0) ready.push(d);
    }
  }
  return order;
}
