/// Where `solve` puts a run's records as it makes them: the samples (grid times and events),
/// the events, and each constant-pattern interval when it closes.
///
/// Without a recorder (`SolveHooks.recorder` nil) they are kept in the `FlowSolution`'s arrays.
/// With one (`RunStream`, which writes them into the run folder as they come) the solution keeps
/// only the last sample and the counts, so a run's memory is O(n·m + sample grid), whatever the
/// number of steps and events.
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
}

extension FlowRecorder {
    public var wantsCheckpoint: Bool { false }
    public func checkpoint(_ snapshot: FlowSolution, openInterval: PatternInterval) {}
}
