"""A layered layout of a directed acyclic graph (the Sugiyama scheme, as graphviz's ``dot`` does it):
boxes get a rank by graph depth, edges that skip ranks pass through invisible points on the ranks
between, the order inside each rank is swept by barycenters to cut crossings, and positions across
the ranks come from isotonic regression (each box as near the mean of its neighbours as the boxes
beside it allow). Pure Python over sizes and index pairs; nothing here draws."""

GAP_ALONG = 0.45   # inches between ranks
GAP_ACROSS = 0.3   # inches between boxes of a rank
DUMMY_ACROSS = 0.12  # the room an edge passing through a rank takes
SWEEPS = 6


class Layout:
    """Positions of a layered drawing, in inches; ``across`` runs along a rank, ``along`` with the edges.

    Args:
        centers: per box, its ``(across, along)`` center.
        paths: per edge (in the order given), the points ``(across, along)`` its line goes through, from
            the source box's border to the target box's border.
        ranks: per box, its depth (0 for boxes with no incoming edge).
    """

    def __init__(self, centers, paths, ranks):
        self.centers, self.paths, self.ranks = centers, paths, ranks


def ranks_by_depth(count, edges):
    """Longest-path depth of each node; ValueError on a cycle."""
    incoming = [[] for _ in range(count)]
    outgoing = [[] for _ in range(count)]
    for u, v in edges:
        incoming[v].append(u)
        outgoing[u].append(v)
    waiting = [len(i) for i in incoming]
    ready = [v for v in range(count) if not waiting[v]]
    rank = [0] * count
    done = 0
    while ready:
        u = ready.pop()
        done += 1
        for v in outgoing[u]:
            rank[v] = max(rank[v], rank[u] + 1)
            waiting[v] -= 1
            if not waiting[v]:
                ready.append(v)
    if done != count:
        raise ValueError("the graph has a cycle; a layered layout needs an acyclic graph")
    return rank


def layered_layout(sizes, edges):
    """Lay out boxes of ``sizes`` (``(across, along)`` extents in inches) joined by ``edges`` (pairs of box
    indices, source first). Returns a ``Layout``."""
    count = len(sizes)
    rank = ranks_by_depth(count, edges)
    extents = [tuple(s) for s in sizes]
    chains = []  # per edge: the node indices it goes through, real and dummy
    for u, v in edges:
        chain = [u]
        for r in range(rank[u] + 1, rank[v]):
            extents.append((DUMMY_ACROSS, 0.0))
            rank.append(r)
            chain.append(len(extents) - 1)
        chains.append(chain + [v])
    above = [[] for _ in extents]
    below = [[] for _ in extents]
    for chain in chains:
        for a, b in zip(chain, chain[1:]):
            below[a].append(b)
            above[b].append(a)
    levels = [[] for _ in range(max(rank, default=-1) + 1)]
    for node, r in enumerate(rank):
        levels[r].append(node)
    _order(levels, above, below)
    across = _positions(levels, extents, above, below)
    along, depth = [], 0.0
    for level in levels:
        thickness = max(extents[n][1] for n in level)
        for node in level:
            along.append((node, depth + thickness / 2))
        depth += thickness + GAP_ALONG
    along = dict(along)
    centers = [(across[n], along[n]) for n in range(count)]
    paths = _paths(chains, extents, across, along, count)
    return Layout(centers, paths, rank[:count])


def _crossings(levels, below):
    total = 0
    for upper, lower in zip(levels, levels[1:]):
        position = {n: i for i, n in enumerate(lower)}
        pairs = [(i, position[b]) for i, a in enumerate(upper) for b in below[a] if b in position]
        total += sum(1 for k, (a1, b1) in enumerate(pairs) for a2, b2 in pairs[k + 1:]
                     if (a1 - a2) * (b1 - b2) < 0)
    return total


def _order(levels, above, below):
    """Reorder each level by the mean position of its neighbours, sweeping down and up; keep the best."""
    best, best_crossings = [list(l) for l in levels], _crossings(levels, below)
    for sweep in range(SWEEPS):
        downward = sweep % 2 == 0
        sequence = range(1, len(levels)) if downward else range(len(levels) - 2, -1, -1)
        for r in sequence:
            reference = {n: i for i, n in enumerate(levels[r - 1 if downward else r + 1])}
            neighbours = above if downward else below

            def key(item):
                index, node = item
                linked = [reference[m] for m in neighbours[node] if m in reference]
                return (sum(linked) / len(linked) if linked else index, index)
            levels[r] = [n for _, n in sorted(enumerate(levels[r]), key=key)]
        crossings = _crossings(levels, below)
        if crossings < best_crossings:
            best, best_crossings = [list(l) for l in levels], crossings
    levels[:] = best


def _positions(levels, extents, above, below):
    """Across positions: each level packed in order, then pulled toward its neighbours' mean."""
    across = {}
    for level in levels:
        _place(level, extents, [0.0] * len(level), across)
    for sweep in range(2 * SWEEPS):
        downward = sweep % 2 == 0
        order = levels if downward else levels[::-1]
        for level in order:
            wanted = []
            for node in level:
                linked = [across[m] for m in (above[node] + below[node] if sweep >= SWEEPS else
                                              (above[node] if downward else below[node]))]
                wanted.append(sum(linked) / len(linked) if linked else across[node])
            _place(level, extents, wanted, across)
    return across


def _place(level, extents, wanted, across):
    """Positions as near ``wanted`` as possible (least squares) keeping order and gaps: isotonic
    regression (pool adjacent violators) on the wanted positions less the cumulative spacing."""
    offsets, total = [], 0.0
    for i, node in enumerate(level):
        if i:
            total += (extents[level[i - 1]][0] + extents[node][0]) / 2 + GAP_ACROSS
        offsets.append(total)
    blocks = []  # [mean, weight]
    for w, o in zip(wanted, offsets):
        blocks.append([w - o, 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            m2, n2 = blocks.pop()
            m1, n1 = blocks.pop()
            blocks.append([(m1 * n1 + m2 * n2) / (n1 + n2), n1 + n2])
    values = [m for m, n in blocks for _ in range(n)]
    for node, value, offset in zip(level, values, offsets):
        across[node] = value + offset


def _paths(chains, extents, across, along, count):
    """Edge lines: from the source's far border through the dummies to the target's near border, with the
    ends of several edges at one box spread over the middle of that border."""
    ports_out, ports_in = {}, {}
    for e, chain in enumerate(chains):
        ports_out.setdefault(chain[0], []).append((across[chain[1]], e))
        ports_in.setdefault(chain[-1], []).append((across[chain[-2]], e))
    start, end = {}, {}
    for ports, where in ((ports_out, start), (ports_in, end)):
        for node, items in ports.items():
            items.sort()
            width = extents[node][0] * 0.6
            for k, (_, e) in enumerate(items):
                where[e] = across[node] + (0.0 if len(items) == 1 else -width / 2 + width * k / (len(items) - 1))
    paths = []
    for e, chain in enumerate(chains):
        u, v = chain[0], chain[-1]
        points = [(start[e], along[u] + extents[u][1] / 2)]
        points += [(across[d], along[d]) for d in chain[1:-1]]
        points.append((end[e], along[v] - extents[v][1] / 2))
        paths.append(points)
    return paths
