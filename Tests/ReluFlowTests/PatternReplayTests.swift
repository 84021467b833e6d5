import XCTest
@testable import ReluFlow

/// Patterns are stored as change lists (PatternInterval.changes); these tests check that the
/// replayed n×m patterns are the ones the flow was in.
final class PatternReplayTests: XCTestCase {
    /// At every sample strictly inside an interval, the replayed pattern matches the signs of the
    /// pre-activations: on ⇔ z > 0, off ⇔ z < 0, and a sliding pair has |z| at the rounding level
    /// (1e-9 of |w||x| + |b|: the projection holds sliding pairs on their surfaces to ~1e-15, and
    /// a genuine on/off pair between events is away from its surface by far more on these runs).
    /// The counts stored with each interval equal the replayed pattern's, and equal pattern ids
    /// mean equal patterns.
    func testReplayedPatternsMatchThePreactivations() throws {
        for name in ["sine", "abs", "two-d"] {
            let solution = solve(try exampleProblem(name, T: 100))
            let network = solution.problem.network, data = solution.problem.data
            let n = network.width, m = data.count, d = data.dimension
            let replay = PatternReplay(solution)
            var byId: [Int: [PairState]] = [:]
            var checkedSamples = 0
            for (k, interval) in solution.patterns.enumerated() {
                let states = replay.states(k)
                for i in 0..<n {
                    XCTAssertEqual(interval.activeCounts[i], (0..<m).filter { states[i * m + $0] == .on }.count, "\(name) interval \(k)")
                    XCTAssertEqual(interval.slidingCounts[i], (0..<m).filter { states[i * m + $0] == .sliding }.count, "\(name) interval \(k)")
                }
                if let earlier = byId[interval.patternId] { XCTAssertEqual(earlier, states, "\(name): id \(interval.patternId) names two patterns") }
                byId[interval.patternId] = states
                for s in solution.samples where s.t > interval.tStart && s.t < interval.tEnd {
                    checkedSamples += 1
                    for i in 0..<n {
                        let w = (0..<d).map { s.theta[i * d + $0] }, b = s.theta[n * d + i]
                        for j in 0..<m {
                            let x = data.point(j)
                            let z = network.preactivation(s.theta, neuron: i, point: x[...])
                            let scale = zip(w, x).map { abs($0 * $1) }.reduce(abs(b), +)
                            switch states[i * m + j] {
                            case .on: XCTAssertGreaterThan(z, 0, "\(name) t=\(s.t) pair (\(i), \(j))")
                            case .off: XCTAssertLessThan(z, 0, "\(name) t=\(s.t) pair (\(i), \(j))")
                            case .sliding: XCTAssertLessThan(abs(z), 1e-9 * max(scale, 1e-300), "\(name) t=\(s.t) pair (\(i), \(j))")
                            }
                        }
                    }
                }
            }
            XCTAssertGreaterThan(checkedSamples, 10, name)
            XCTAssertEqual(Set(byId.values.map { PatternKey($0) }).count, byId.count, "\(name): distinct patterns, distinct keys")
        }
    }

    /// Replaying backwards (a query for an earlier interval) restarts and gives the same pattern.
    func testReplayOutOfOrder() throws {
        let solution = solve(try exampleProblem("sine", T: 100))
        let forward = PatternReplay(solution)
        let all = solution.patterns.indices.map { forward.states($0) }
        let shuffled = PatternReplay(solution)
        for k in solution.patterns.indices.reversed() { XCTAssertEqual(shuffled.states(k), all[k]) }
        XCTAssertGreaterThan(Set(all).count, 3)
    }

    /// A run continued from its checkpoint and merged with its first part has the pattern
    /// intervals of the uninterrupted run: the same change lists and ids, interval ends within
    /// 1e-8 (the restart changes the step sequence, so event times move by about rtol·t).
    func testMergedContinuationHasTheUninterruptedPatterns() throws {
        let whole = solve(try exampleProblem("sine", T: 200))
        let first = solve(try exampleProblem("sine", T: 30))
        var rest = try exampleProblem("sine", T: 200)
        rest.start = first.checkpoint
        let merged = RunContinuation.merge(first, solve(rest))
        XCTAssertEqual(merged.patterns.map(\.changes), whole.patterns.map(\.changes))
        XCTAssertEqual(merged.patterns.map(\.patternId), whole.patterns.map(\.patternId))
        for (a, b) in zip(merged.patterns, whole.patterns) { XCTAssertEqual(a.tEnd, b.tEnd, accuracy: 1e-8 * max(1, b.tEnd)) }
        XCTAssertGreaterThan(first.patterns.count, 2)
        XCTAssertGreaterThan(whole.patterns.count, first.patterns.count + 2)
    }
}
