/// The event logic's guards against loops at one instant and against chattering (SPEC §4).
///
/// - Never loop: a state chosen for a pair at an instant and left again at once (the flow
///   immediately went to the wrong side) is not chosen again at that instant. The state held
///   before the instant stays allowed: after a tangential slide exit (α touching 0 or 1 and
///   turning back) re-entering the slide is the right answer. "The same instant" means within
///   rounding of t (`sameInstant`): decisions that fail at once may advance t by an ulp or two.
/// - Every state failed at once: the one-sided fields differ only at rounding level (for example
///   R_g → 0 near an interpolating minimum). The resolver takes the least inconsistent state
///   (logged as a graze), and the pair is left out of detection for one step, so that the next
///   decision is made at a new time and state.
/// - Nothing to change (no admissible continuation differs): the pairs are left out of detection
///   until a step starts at a later instant (left out for one step only, two such pairs located
///   at τ = 0 can take turns and keep time from advancing).
/// - More than `noProgressLimit` such decisions at one instant, or `chatteringCount` events
///   within `chatteringSpan`·max(1, t), stop the run with a diagnosis instead of crawling (the
///   one known case: a neuron pinned to a hyperplane through more data points than its
///   dimension, as in a d ≥ 3 grid, where the Filippov combination over dependent surfaces is
///   not found).
struct EventGuard {
    static let noProgressLimit = 1000
    static let chatteringCount = 2000
    static let chatteringSpan = 1e-3

    /// The time of the last event decision.
    private(set) var lastEventTime = -Double.infinity
    /// States chosen per pair (i·G + g) at the instant `lastEventTime`.
    private var chosenAtThisTime: [Int: Set<PairState>] = [:]
    /// Pairs whose events are not looked for in the next step.
    private var ignoreForOneStep = Set<Int>()
    /// Pairs decided "no change" at the instant `ignoreInstant`.
    private var ignoreAtInstant = Set<Int>()
    private var ignoreInstant = -Double.infinity
    /// Decisions at this instant that made no progress.
    private(set) var zeroProgressEvents = 0
    private var recentEventTimes: [Double] = []
    /// The last events (for the chattering diagnosis), at most 200 after each event.
    private var recentEvents: [FlowEvent] = [] {
        didSet { if recentEvents.count > 400 { recentEvents.removeFirst(recentEvents.count - 200) } }
    }

    /// Whether two times are the same instant of the event logic (within 1e-12 relative).
    static func sameInstant(_ a: Double, _ b: Double) -> Bool {
        abs(a - b) <= 1e-12 * max(1, abs(a))
    }

    /// Removes from the flags of a step starting at t0 the pairs left out of detection for it
    /// (pair index i·G + g by `key`).
    mutating func filter(_ flags: inout [EventDetector.Flag], stepStart t0: Double, key: (EventDetector.Flag) -> Int) {
        if !ignoreAtInstant.isEmpty && !Self.sameInstant(t0, ignoreInstant) { ignoreAtInstant = [] }
        guard !ignoreForOneStep.isEmpty || !ignoreAtInstant.isEmpty else { return }
        flags.removeAll { ignoreForOneStep.contains(key($0)) || ignoreAtInstant.contains(key($0)) }
        ignoreForOneStep = []
    }

    /// Begins a decision at t for the given pairs (i·G + g, with their current states): the states
    /// excluded per pair, the pairs decided before at this instant, and whether the run makes no
    /// progress (more than `noProgressLimit` decisions at this instant).
    mutating func begin(at t: Double, pairs: [Int], states: [PairState])
        -> (excluded: [Int: Set<PairState>], repeated: Set<Int>, stalled: Bool) {
        if !Self.sameInstant(t, lastEventTime) {
            chosenAtThisTime = [:]
            zeroProgressEvents = 0
        }
        var excluded: [Int: Set<PairState>] = [:]
        var repeated = Set<Int>()
        for key in pairs {
            if let chosen = chosenAtThisTime[key] { repeated.insert(key); excluded[key] = chosen }
            excluded[key, default: []].insert(states[key])
        }
        for key in pairs where excluded[key]!.count >= 3 {
            excluded[key] = nil
            ignoreForOneStep.insert(key)
            zeroProgressEvents += 1
        }
        return (excluded, repeated, zeroProgressEvents > Self.noProgressLimit)
    }

    /// The states chosen at this instant (pair index, new state).
    mutating func chose(_ choices: [(key: Int, state: PairState)]) {
        for c in choices { chosenAtThisTime[c.key, default: []].insert(c.state) }
    }

    /// Nothing changed for these pairs at t: they are left out of detection until a later step
    /// starts. Returns whether the run makes no progress.
    mutating func unchanged(_ pairs: [Int], at t: Double) -> Bool {
        if !Self.sameInstant(t, ignoreInstant) { ignoreAtInstant = [] }
        ignoreInstant = t
        ignoreAtInstant.formUnion(pairs)
        zeroProgressEvents += 1
        lastEventTime = t
        return zeroProgressEvents > Self.noProgressLimit
    }

    /// An event decision took effect at t.
    mutating func decided(at t: Double) { lastEventTime = t }

    /// Keeps a logged event for the chattering diagnosis.
    mutating func logged(_ event: FlowEvent) { recentEvents.append(event) }

    /// After an event at t: the chattering diagnosis, if `chatteringCount` events fell within
    /// `chatteringSpan`·max(1, t).
    mutating func chattering(at t: Double) -> FlowFailure? {
        recentEventTimes.append(t)
        if recentEventTimes.count > Self.chatteringCount { recentEventTimes.removeFirst(recentEventTimes.count - Self.chatteringCount) }
        guard recentEventTimes.count == Self.chatteringCount, t - recentEventTimes[0] < Self.chatteringSpan * max(1, abs(t)) else {
            return nil
        }
        let neurons = Dictionary(grouping: recentEvents, by: \.neuron).max { $0.value.count < $1.value.count }
        let surfaces = Set(neurons?.value.map(\.point) ?? []).count
        return .chattering(t: t, events: recentEventTimes.count, span: t - recentEventTimes[0], neuron: neurons?.key ?? -1,
                           surfaces: surfaces)
    }
}
