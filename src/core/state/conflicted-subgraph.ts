// The conflicted state subgraph of state resolution v2.1 (spec rooms v12 "Conflicted state
// subgraph"): every event on an auth_events path from one conflicted event to another.

/**
 * An event lies on such a path exactly when it is reachable from some conflicted event through
 * auth_events (an ancestor, or a conflicted event itself) and some conflicted event is reachable
 * from it. So: walk back from the conflicted events collecting ancestors and the reverse edges
 * among them, then walk those reverse edges forward from the conflicted events. Both walks are
 * linear in the ancestors and use explicit stacks.
 *
 * The result includes the conflicted events themselves (the paths' endpoints). Events `authIdsOf`
 * does not know are kept but not walked past.
 */
export function conflictedStateSubgraph(
  conflictedIds: Iterable<string>,
  authIdsOf: (eventId: string) => readonly string[] | undefined,
): Set<string> {
  const conflicted = [...new Set(conflictedIds)];
  // Ancestors (including the conflicted events) and, for each, the ancestors citing it.
  const citedBy = new Map<string, string[]>();
  const visited = new Set<string>(conflicted);
  const stack = [...conflicted];
  while (stack.length > 0) {
    const id = stack.pop()!;
    const auth = authIdsOf(id);
    if (!auth) continue;
    for (const a of auth) {
      let citers = citedBy.get(a);
      if (!citers) citedBy.set(a, (citers = []));
      citers.push(id);
      if (!visited.has(a)) {
        visited.add(a);
        stack.push(a);
      }
    }
  }

  // Ancestors from which a conflicted event can be reached: forward from the conflicted events.
  const subgraph = new Set<string>(conflicted);
  const forward = [...conflicted];
  while (forward.length > 0) {
    const id = forward.pop()!;
    const citers = citedBy.get(id);
    if (!citers) continue;
    for (const c of citers) {
      if (!subgraph.has(c)) {
        subgraph.add(c);
        forward.push(c);
      }
    }
  }
  return subgraph;
}
