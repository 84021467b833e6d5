/// Where `solve` (and `train`) put a run's records as they make them: the samples (grid times and
/// events), the events, and each constant-pattern interval when it closes.
///
/// Two conformers: `MemoryRecorder` keeps them in arrays that become the `FlowSolution`'s (what
/// `solve` uses when `SolveHooks.recorder` is nil); `RunStream` writes them into the run folder as
/// they come, and the solution keeps only the last sample and the counts, so a run's memory is
/// O(n·m + sample grid), whatever the number of steps and events.
public protocol FlowRecorder: AnyObject {
    func record(_ sample: FlowSample)
    func record(_ event: FlowEvent)
    func record(_ interval: PatternInterval)
    /// Why recording failed (a write error), if it did; the solver then stops with that diagnosis.
    var failure: String? { get }

    /// Whether the recorder wants a checkpoint: polled at the top of every step, it is offered
    /// one (`checkpoint`) when the last sample lies at the current time.
    var wantsCheckpoint: Bool { get }
    /// The run as it would be if it were interrupted now (status `interrupted`, diagnostics and
    /// final pattern as of its last sample), and its open pattern interval closed there: what a
    /// recorder needs to make the records so far resumable even if the process is killed.
    func checkpoint(_ snapshot: FlowSolution, openInterval: PatternInterval)
    /// At the end of the run: the records the recorder holds, handed to the solution (a recorder
    /// that wrote them elsewhere leaves the solution's arrays empty).
    func deliver(into solution: inout FlowSolution)
}

extension FlowRecorder {
    public var wantsCheckpoint: Bool { false }
    public func checkpoint(_ snapshot: FlowSolution, openInterval: PatternInterval) {}
    public func deliver(into solution: inout FlowSolution) {}
}

/// The recorder that keeps a run's records in memory and hands them to its solution at the end.
public final class MemoryRecorder: FlowRecorder {
    // A recorder belongs to one run on one thread and no access to these overlaps another, so the
    // dynamic exclusivity checks of class properties are off for the appends (SE-0176), as for
    // TrainingRecorder's bookkeeping: a training iteration of a small problem costs about as much.
    @exclusivity(unchecked) public private(set) var samples: [FlowSample] = []
    @exclusivity(unchecked) public private(set) var events: [FlowEvent] = []
    @exclusivity(unchecked) public private(set) var patterns: [PatternInterval] = []
    public var failure: String? { nil }

    public init() {}

    public func record(_ sample: FlowSample) { samples.append(sample) }
    public func record(_ event: FlowEvent) { events.append(event) }
    public func record(_ interval: PatternInterval) { patterns.append(interval) }

    /// Moves the records into `solution` (this recorder is left empty).
    public func deliver(into solution: inout FlowSolution) {
        solution.samples = samples
        solution.events = events
        solution.patterns = patterns
        samples = []
        events = []
        patterns = []
    }
}
