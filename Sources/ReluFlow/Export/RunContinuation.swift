import Foundation

/// Continuing a run folder: an earlier (interrupted, or shorter) run, read by `RunFolderReader`, is
/// integrated on from its `checkpoint.json`, and both parts are merged into one run as if it had
/// never stopped.
public enum RunContinuation {
    /// One run from an earlier part and its continuation (which started at the earlier's checkpoint).
    /// Pattern ids of the continuation are mapped onto the earlier ones by pattern.
    public static func merge(_ earlier: FlowSolution, _ later: FlowSolution) -> FlowSolution {
        var merged = later
        let n = later.problem.model.hiddenUnitCount, m = later.problem.data.count
        // Ids by pattern: the earlier run's, then new ones for patterns it never had.
        var idOfKey: [PatternKey: Int] = [:]
        let earlierReplay = PatternReplay(earlier)
        for k in earlier.patterns.indices { idOfKey[PatternKey(earlierReplay.states(k))] = earlier.patterns[k].patternId }
        var nextId = (earlier.patterns.map(\.patternId).max() ?? -1) + 1
        var remap: [Int: Int] = [:]
        let laterReplay = PatternReplay(later)
        var laterKeys: [PatternKey] = []
        for (k, p) in later.patterns.enumerated() {
            let key = PatternKey(laterReplay.states(k))
            laterKeys.append(key)
            if remap[p.patternId] != nil { continue }
            if let id = idOfKey[key] { remap[p.patternId] = id } else {
                remap[p.patternId] = nextId
                idOfKey[key] = nextId
                nextId += 1
            }
        }
        merged.samples = earlier.samples + later.samples.dropFirst().map { s in
            var s = s
            s.patternId = remap[s.patternId] ?? s.patternId
            return s
        }
        merged.events = earlier.events + later.events
        var patterns = earlier.patterns
        let lastEarlier = earlier.patterns.isEmpty ? [PairState](repeating: .off, count: n * m) : earlierReplay.final
        for (k, p) in later.patterns.enumerated() {
            var p = p
            p.patternId = remap[p.patternId] ?? p.patternId
            if k == 0 {
                // The continuation's first changes are from all-off: restate them against the earlier end.
                let first = laterReplay.states(0)
                p.changes = first.indices.filter { first[$0] != lastEarlier[$0] }
                    .map { PatternChange(neuron: $0 / m, point: $0 % m, state: first[$0]) }
                if let last = patterns.last, PatternKey(lastEarlier) == laterKeys[0], last.tEnd == p.tStart {
                    patterns[patterns.count - 1].tEnd = p.tEnd
                    continue
                }
            }
            patterns.append(p)
        }
        merged.patterns = patterns
        merged.last = later.last ?? earlier.last
        merged.eventCount = merged.events.count
        merged.patternIntervalCount = patterns.count
        merged.distinctPatternCount = Set(patterns.map(\.patternId)).count
        merged.finalPattern = later.finalPattern ?? earlier.finalPattern
        merged.diagnostics = combined(earlier.diagnostics, later.diagnostics)
        return merged
    }

    /// The solution of a resumed run whose records `stream` wrote (`RunStream(path:problem:earlier:)`):
    /// the continuation's final state with both parts' counts and diagnostics.
    public static func joined(_ earlier: FlowSolution, _ later: FlowSolution, stream: RunStream) -> FlowSolution {
        var merged = later
        merged.eventCount = stream.counts.events
        merged.patternIntervalCount = stream.counts.intervals
        merged.diagnostics = combined(earlier.diagnostics, later.diagnostics)
        return merged
    }

    /// Ids of the earlier run's patterns for the continuation (`FlowProblem.patternIds`), so that
    /// a pattern seen before keeps its id and new ones continue the numbering.
    public static func seed(_ problem: inout FlowProblem, with earlier: FlowSolution) {
        let replay = PatternReplay(earlier)
        var ids: [PatternKey: Int] = [:]
        for k in earlier.patterns.indices {
            ids[PatternKey(problem.data.perGroup(replay.states(k), width: problem.model.hiddenUnitCount))] = earlier.patterns[k].patternId
        }
        problem.patternIds = ids
    }

    /// Diagnostics of a run in two parts: counts and times add up, the accuracy ones are the later's
    /// (its invariant drift and dissipation defect are measured from the earlier run's θ(0)).
    /// The diagnostics of a part that made no progress (stopped where it started, so that it is not
    /// recorded in `flow.segments`) with its counters zeroed (its wall time kept): its one evaluation
    /// at the start is repeated by the continuation, and the run must equal the one its recorded
    /// config repeats.
    public static func uncounted(_ diagnostics: FlowDiagnostics) -> FlowDiagnostics {
        var diag = diagnostics
        diag.steps = 0
        diag.rejectedSteps = 0
        diag.rhsEvaluations = 0
        diag.jacobianEvaluations = 0
        diag.stepperSwitches = 0
        diag.batchedCrossings = 0
        diag.crossingBatches = 0
        diag.stepperSteps = [:]
        return diag
    }

    static func combined(_ before: FlowDiagnostics, _ later: FlowDiagnostics) -> FlowDiagnostics {
        var diag = later
        diag.steps += before.steps
        diag.rejectedSteps += before.rejectedSteps
        diag.rhsEvaluations += before.rhsEvaluations
        diag.jacobianEvaluations += before.jacobianEvaluations
        diag.wallSeconds += before.wallSeconds
        diag.stepperSwitches += before.stepperSwitches
        diag.batchedCrossings += before.batchedCrossings
        diag.crossingBatches += before.crossingBatches
        diag.eventsByKind += before.eventsByKind
        for (k, v) in before.stepperSteps { diag.stepperSteps[k, default: 0] += v }
        for (k, v) in before.stepperSeconds { diag.stepperSeconds[k, default: 0] += v }
        diag.zeroLossTime = before.zeroLossTime ?? later.zeroLossTime
        diag.stationaryTime = before.stationaryTime ?? later.stationaryTime
        diag.escapeTime = before.escapeTime ?? later.escapeTime
        return diag
    }
}
