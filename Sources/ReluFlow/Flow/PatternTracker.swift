/// The constant-pattern intervals of a run (`PatternInterval`): the current interval's group
/// states, the changes it opened with, its per-neuron counts of active and sliding points, and the
/// pattern ids, numbered in order of first appearance by a 128-bit key of the group states
/// (`PatternKey`), so that a run keeps no full pattern per interval. Opening the first interval
/// costs O(n·G); each later change O(changes + n).
struct PatternTracker {
    let n: Int, G: Int, m: Int
    let pointsOfGroup: [[Int]]
    /// Ids given so far, by key.
    private(set) var ids: [PatternKey: Int]
    private var nextId: Int
    /// The current interval's pattern id, start and group states (n×G).
    private(set) var current = 0
    private(set) var start = 0.0
    private(set) var states: [PairState] = []
    private var key = PatternKey([])
    /// Pairs (i·G + g) in which the current interval differs from the previous one.
    private var openingChanges: [Int] = []
    private var active: [Int] = [], sliding: [Int] = []

    /// `knownIds`: ids already given (a continued run's), new patterns are numbered after them.
    init(width n: Int, groups G: Int, points m: Int, pointsOfGroup: [[Int]], knownIds: [PatternKey: Int] = [:]) {
        self.n = n
        self.G = G
        self.m = m
        self.pointsOfGroup = pointsOfGroup
        ids = knownIds
        nextId = (knownIds.values.max() ?? -1) + 1
    }

    /// The number of distinct patterns so far.
    var distinctCount: Int { ids.count }

    private mutating func id(_ key: PatternKey) -> Int {
        if let id = ids[key] { return id }
        let id = nextId
        nextId += 1
        ids[key] = id
        return id
    }

    /// Opens the first interval (at t = 0 or at a checkpoint) with group states `states`: its
    /// changes from all off, its counts and key.
    mutating func openFirst(_ states: [PairState], at t: Double) {
        self.states = states
        key = PatternKey(states)
        current = id(key)
        openingChanges = []
        openingChanges.reserveCapacity(states.count)
        for k in states.indices where states[k] != .off { openingChanges.append(k) }
        active = [Int](repeating: 0, count: n)
        sliding = [Int](repeating: 0, count: n)
        for k in openingChanges { count(k, states[k], by: 1) }
        start = t
    }

    /// Closes the current interval at t and returns it; the next one differs from it in `changes`
    /// (group-pair index and new state).
    mutating func close(at t: Double, changes: [(index: Int, state: PairState)]) -> PatternInterval {
        let closed = interval(to: t)
        openingChanges = []
        for (k, state) in changes where state != states[k] {
            key.replace(k, states[k], state)
            count(k, states[k], by: -1)
            count(k, state, by: 1)
            states[k] = state
            openingChanges.append(k)
        }
        current = id(key)
        start = t
        return closed
    }

    /// Adds `sign` times the group size of pair k to its neuron's active or sliding count.
    private mutating func count(_ k: Int, _ state: PairState, by sign: Int) {
        let size = pointsOfGroup[k % G].count
        switch state {
        case .on: active[k / G] += sign * size
        case .sliding: sliding[k / G] += sign * size
        case .off: break
        }
    }

    /// The current interval, closed at `to`: its changes against the previous one (per point) and
    /// its per-neuron counts.
    func interval(to: Double) -> PatternInterval {
        var changes: [PatternChange] = []
        var total = 0
        for k in openingChanges { total += pointsOfGroup[k % G].count }
        changes.reserveCapacity(total)
        for k in openingChanges {
            for j in pointsOfGroup[k % G] { changes.append(PatternChange(neuron: k / G, point: j, state: states[k])) }
        }
        // (neuron, point) keys are distinct, so the order is the sorted one whatever the sort; the
        // changes come in pair order, often already sorted (a group's points in order): checked first.
        var sorted = true
        for q in changes.indices.dropFirst() where (changes[q - 1].neuron, changes[q - 1].point) > (changes[q].neuron, changes[q].point) {
            sorted = false
            break
        }
        if !sorted { changes.sort { ($0.neuron, $0.point) < ($1.neuron, $1.point) } }
        return PatternInterval(patternId: current, tStart: start, tEnd: to, changes: changes,
                               activeCounts: active, slidingCounts: sliding, width: n, pointCount: m)
    }

    /// The current pattern per point (n×m, row-major by neuron).
    var pointPattern: [PairState] {
        // Every (neuron, point) entry is written once (a point lies in one group), group by group.
        var out = [PairState](repeating: .off, count: n * m)
        out.withUnsafeMutableBufferPointer { o in
            states.withUnsafeBufferPointer { st in
                for g in 0..<G {
                    let points = pointsOfGroup[g]
                    for i in 0..<n { for j in points { o[i * m + j] = st[i * G + g] } }
                }
            }
        }
        return out
    }
}
