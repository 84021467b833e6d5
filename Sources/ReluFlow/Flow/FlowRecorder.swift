/// Where `solve` puts a run's records as it makes them: the samples (grid times and events),
/// the events, and each constant-pattern interval when it closes.
///
/// Without a recorder (`SolveHooks.recorder` nil) they are kept in the `FlowSolution`'s arrays.
/// With one (`RunStream`, which writes them into the run folder as they come) the solution keeps
/// only the last sample and the counts, so a run's memory is O(n·m + sample grid), whatever the
/// number of steps and events (issue 4).
public protocol FlowRecorder: AnyObject {
    func record(_ sample: FlowSample)
    func record(_ event: FlowEvent)
    func record(_ interval: PatternInterval)
    /// Why recording failed (a write error), if it did; the solver then stops with that diagnosis.
    var failure: String? { get }
}
