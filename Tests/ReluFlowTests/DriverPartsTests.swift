import Foundation
import XCTest
@testable import ReluFlow

/// The driver's parts on their own: the `auto` rule's controller, the event guards, the slide
/// hysteresis and the pattern tracker (exact counts and states: no tolerances involved).
final class DriverPartsTests: XCTestCase {
    /// rkck while events are dense: the moving average (weight 1/8) passes 1/2 at the 6th
    /// event-ending step (1 − (7/8)⁶ = 0.551) and falls below 1/5 after 8 quiet steps
    /// (0.551·(7/8)⁸ = 0.189; 0.216 after 7).
    func testEventDensityChoosesTheExplicitStepper() {
        var c = StepperController(policy: StepperPolicy(requested: .auto))
        XCTAssertEqual(c.active, .rk8pd)
        for k in 1...6 {
            let choice = c.explicitStepEnded(atEvent: true)
            XCTAssertEqual(choice, k == 6 ? .rkck : nil, "event step \(k)")
        }
        XCTAssertTrue(c.switchTo(.rkck, at: 1))
        XCTAssertFalse(c.switchTo(.rkck, at: 1))
        for k in 1...8 {
            let choice = c.explicitStepEnded(atEvent: false)
            XCTAssertEqual(choice, k == 8 ? .rk8pd : nil, "quiet step \(k)")
        }
        var named = StepperController(policy: StepperPolicy(requested: .rk8pd))
        for _ in 0..<20 { XCTAssertNil(named.explicitStepEnded(atEvent: true)) }
        XCTAssertFalse(named.stiffnessCheck(stepSize: 1, spectralRadius: { 1e9 }, costRatio: { _ in 1 }))
    }

    /// The stiffness check runs every `checkInterval` explicit steps and switches when h·ρ reaches
    /// the stability ratio; after a BDF segment that did not pay (gain 0.5 against a cost ratio of
    /// 10) the next `retryAfterDeclines` checks decline, and the one after switches again.
    func testStiffnessCheckAndDeclines() {
        var c = StepperController(policy: StepperPolicy(requested: .auto))
        let interval = c.policy.checkInterval
        var checks = 0
        func check(_ rho: Double) -> Bool {
            c.stiffnessCheck(stepSize: 1, spectralRadius: { checks += 1; return rho }, costRatio: { _ in 10 })
        }
        for k in 1..<interval { XCTAssertFalse(check(10), "step \(k)") }
        XCTAssertFalse(check(0.1))   // the check ran, not stability-limited
        XCTAssertEqual(checks, 1)
        for _ in 1..<interval { XCTAssertFalse(check(10)) }
        XCTAssertTrue(check(10))
        XCTAssertTrue(c.switchTo(.msbdf, at: 0))
        c.beginStiffSegment(at: 0, explicitStep: 1)
        for _ in 0..<10 { c.attempted(seconds: 0) }
        XCTAssertTrue(c.switchTo(.rk8pd, at: 5))
        XCTAssertEqual(c.stiffStepGain, 0.5)
        for decline in 0...StepperPolicy.retryAfterDeclines {
            for _ in 1..<interval { XCTAssertFalse(check(10)) }
            XCTAssertEqual(check(10), decline == StepperPolicy.retryAfterDeclines, "check \(decline)")
        }
        XCTAssertEqual(c.stepsByName[Stepper.msbdf.rawValue], 10)
        XCTAssertEqual(c.switches, 2)
    }

    /// A dear BDF step (cost ratio ≥ `dearStiffStep`) is not tried where the gain bound the driver
    /// passes (an adaptive flow's (T − t)/h) is below its cost ratio, even before any BDF segment
    /// has shown its gain; with the bound above the ratio, or no bound, the check switches as
    /// before. (Fails without the bound: the first stability-limited check always switched, and the
    /// escape grid's [1, 16×5, 1] Adam run spent its minute in one msbdf step of dimension 3170.)
    func testDearStiffStepNeedsAGainBoundAboveItsCost() {
        var c = StepperController(policy: StepperPolicy(requested: .auto))
        let interval = c.policy.checkInterval
        func check(bound: Double?) -> Bool {
            var switched = false
            for _ in 0..<interval {
                switched = c.stiffnessCheck(stepSize: 1, spectralRadius: { 10 }, costRatio: { _ in 1e5 }, gainBound: bound)
            }
            return switched
        }
        XCTAssertFalse(check(bound: 9.9e4))
        XCTAssertTrue(check(bound: 1.1e5))
        XCTAssertTrue(check(bound: nil))
        // A cheap step (ratio below dearStiffStep) is not bounded.
        var cheap = StepperController(policy: StepperPolicy(requested: .auto))
        var switched = false
        for _ in 0..<interval { switched = cheap.stiffnessCheck(stepSize: 1, spectralRadius: { 10 }, costRatio: { _ in 2 }, gainBound: 1) }
        XCTAssertTrue(switched)
    }

    /// A stop request is polled inside a step too (`GSLIntegrator.abort`, before every field
    /// evaluation and Jacobian of the main integrator): the step in progress fails, the driver
    /// restores its start and the run ends as interrupted there, the last good state. Here the
    /// request answers true from its 4th poll on: between steps alone (the code before) that is
    /// after 3 accepted steps (t > 0); with the polls inside the first step (rk8pd: 13 stages) it
    /// comes within that step, so the run ends at t = 0 with θ(0), no step, no events.
    func testStopRequestEndsAStepInside() throws {
        var config = try Example.named("sine").config
        config.flow.T = 10
        let problem = try config.resolve().problem
        var polls = 0
        let solution = solve(problem, hooks: SolveHooks(shouldStop: { polls += 1; return polls > 3 }))
        XCTAssertEqual(solution.status, .interrupted)
        XCTAssertEqual(solution.finalTime, 0)
        XCTAssertEqual(solution.finalTheta, problem.theta0)
        XCTAssertEqual(solution.diagnostics.steps, 0)
        XCTAssertTrue(solution.events.isEmpty)
    }

    /// A state chosen at an instant and left is excluded at that instant (and the pair marked
    /// repeated); a pair with every state excluded is left out of the next step's detection; pairs
    /// with nothing to change stay out until a step starts later; the counts reset at a new instant.
    func testEventGuard() {
        var guardian = EventGuard()
        var states = [PairState](repeating: .off, count: 4)
        var d = guardian.begin(at: 1, pairs: [2], states: states)
        XCTAssertEqual(d.excluded[2], [.off])
        XCTAssertTrue(d.repeated.isEmpty)
        guardian.chose([(key: 2, state: .on)])
        guardian.decided(at: 1)
        states[2] = .on
        d = guardian.begin(at: 1 + 1e-15, pairs: [2], states: states)
        XCTAssertEqual(d.excluded[2], [.on])
        XCTAssertEqual(d.repeated, [2])
        guardian.chose([(key: 2, state: .sliding)])
        states[2] = .sliding
        d = guardian.begin(at: 1, pairs: [2], states: states)
        XCTAssertEqual(d.excluded[2], [.on, .sliding])
        guardian.chose([(key: 2, state: .off)])
        states[2] = .off
        d = guardian.begin(at: 1, pairs: [2], states: states)
        XCTAssertNil(d.excluded[2], "all three states failed: the least inconsistent one is taken")
        func flag(_ g: Int) -> EventDetector.Flag {
            EventDetector.Flag(function: EventFunction(neuron: 0, group: g, sign: 1), tau: 1, isDip: false)
        }
        var flags = [flag(1), flag(2)]
        guardian.filter(&flags, stepStart: 1) { $0.function.group }
        XCTAssertEqual(flags.map(\.function.group), [1])
        flags = [flag(1), flag(2)]
        guardian.filter(&flags, stepStart: 1) { $0.function.group }
        XCTAssertEqual(flags.count, 2, "left out for one step only")
        XCTAssertFalse(guardian.unchanged([3], at: 2))
        flags = [flag(3)]
        guardian.filter(&flags, stepStart: 2) { $0.function.group }
        XCTAssertTrue(flags.isEmpty)
        flags = [flag(3)]
        guardian.filter(&flags, stepStart: 2 + 1e-15) { $0.function.group }
        XCTAssertTrue(flags.isEmpty, "the same instant")
        flags = [flag(3)]
        guardian.filter(&flags, stepStart: 2.5) { $0.function.group }
        XCTAssertEqual(flags.count, 1)
        XCTAssertEqual(guardian.begin(at: 3, pairs: [0], states: states).excluded[0], [.off])
        XCTAssertEqual(guardian.zeroProgressEvents, 0)
    }

    /// More than `noProgressLimit` decisions without progress at one instant stall; 2000 events
    /// within 1e-3·max(1, t) are chattering, spread over more are not.
    func testNoProgressAndChattering() {
        var guardian = EventGuard()
        for k in 1...EventGuard.noProgressLimit { XCTAssertFalse(guardian.unchanged([0], at: 5), "\(k)") }
        XCTAssertTrue(guardian.unchanged([0], at: 5))
        var quiet = EventGuard()
        for k in 0..<3000 { XCTAssertNil(quiet.chattering(at: Double(k) * 1e-6 + 10 * Double(k / 1000))) }
        var busy = EventGuard()
        for k in 0..<1999 {
            busy.logged(FlowEvent(t: 10, neuron: 3, point: k % 7, kind: .on, state: .on, loss: 1))
            XCTAssertNil(busy.chattering(at: 10 + Double(k) * 1e-7))
        }
        guard case let .chattering(_, events, _, neuron, surfaces, nil)? = busy.chattering(at: 10.0002) else {
            return XCTFail("no chattering diagnosis")
        }
        XCTAssertEqual(events, 2000)
        XCTAssertEqual(neuron, 3)
        XCTAssertEqual(surfaces, 7)
    }

    /// A quick return (excursion under 1% of the slide) or an idle one (loss unchanged to
    /// rounding) widens the band 4×; a slow return or a crossing resets it.
    func testSlideHysteresis() {
        var h = SlideHysteresis()
        var factors = [Double](repeating: 1, count: 2)
        h.update([(key: 0, from: .off, to: .sliding)], at: 0, loss: 1, bandFactors: &factors)
        h.update([(key: 0, from: .sliding, to: .on)], at: 10, loss: 0.5, bandFactors: &factors)
        h.update([(key: 0, from: .on, to: .sliding)], at: 10.05, loss: 0.49, bandFactors: &factors)
        XCTAssertEqual(factors[0], 4)
        h.update([(key: 0, from: .sliding, to: .on)], at: 20, loss: 0.3, bandFactors: &factors)
        h.update([(key: 0, from: .on, to: .sliding)], at: 25, loss: 0.3, bandFactors: &factors)
        XCTAssertEqual(factors[0], 16, "idle excursion")
        h.update([(key: 0, from: .sliding, to: .on)], at: 30, loss: 0.2, bandFactors: &factors)
        h.update([(key: 0, from: .on, to: .sliding)], at: 31, loss: 0.1, bandFactors: &factors)
        XCTAssertEqual(factors[0], 1, "slow return")
        factors[1] = 8
        h.update([(key: 1, from: .off, to: .on)], at: 40, loss: 0.1, bandFactors: &factors)
        XCTAssertEqual(factors[1], 1, "crossing")
    }

    /// Intervals carry the changes against the previous one per point (a group of two points
    /// gives two), per-neuron counts, and ids by pattern (a pattern seen before keeps its id);
    /// a continued run numbers new patterns after the known ones.
    func testPatternTracker() {
        // n = 2 neurons, G = 2 groups: group 0 is points {0, 2}, group 1 is point {1}.
        let groups = [[0, 2], [1]]
        var tracker = PatternTracker(width: 2, groups: 2, points: 3, pointsOfGroup: groups, knownIds: [PatternKey([.on]): 4])
        tracker.openFirst([.on, .off, .off, .sliding], at: 0)
        XCTAssertEqual(tracker.current, 5)
        let first = tracker.close(at: 1, changes: [(index: 1, state: .on)])
        XCTAssertEqual(first.changes.map(\.text), ["0:0:+", "0:2:+", "1:1:0"])
        XCTAssertEqual(first.activeCounts, [2, 0])
        XCTAssertEqual(first.slidingCounts, [0, 1])
        XCTAssertEqual(first.tStart, 0)
        XCTAssertEqual(first.tEnd, 1)
        XCTAssertEqual(tracker.current, 6)
        let second = tracker.close(at: 2, changes: [(index: 1, state: .off), (index: 0, state: .on)])
        XCTAssertEqual(second.changes.map(\.text), ["0:1:+"])
        XCTAssertEqual(second.activeCounts, [3, 0])
        XCTAssertEqual(tracker.current, 5, "the first pattern again")
        XCTAssertEqual(tracker.distinctCount, 3)
        XCTAssertEqual(tracker.interval(to: 3).changes.map(\.text), ["0:1:-"])
        XCTAssertEqual(tracker.pointPattern, [.on, .off, .on, .off, .sliding, .off])
    }

    /// An interval's changes are ordered by (neuron, point) whether the pairs come in that order
    /// (the tracker then skips its sort) or not (groups whose points are out of order): both the
    /// same as a sort of them.
    func testPatternTrackerOrdersChangesWithOrWithoutSort() {
        // Group 0 is point 2, group 1 is points {0, 1}: pair order gives points 2, 0, 1 per neuron.
        var unsorted = PatternTracker(width: 2, groups: 2, points: 3, pointsOfGroup: [[2], [0, 1]])
        unsorted.openFirst([.on, .sliding, .off, .on], at: 0)
        XCTAssertEqual(unsorted.interval(to: 1).changes.map(\.text), ["0:0:0", "0:1:0", "0:2:+", "1:0:+", "1:1:+"])
        XCTAssertEqual(unsorted.pointPattern, [.sliding, .sliding, .on, .on, .on, .off])
        // Group 0 is points {0, 1}, group 1 is point 2: already in order.
        var sorted = PatternTracker(width: 2, groups: 2, points: 3, pointsOfGroup: [[0, 1], [2]])
        sorted.openFirst([.on, .sliding, .off, .on], at: 0)
        XCTAssertEqual(sorted.interval(to: 1).changes.map(\.text), ["0:0:+", "0:1:+", "0:2:0", "1:2:+"])
        XCTAssertEqual(sorted.pointPattern, [.on, .on, .sliding, .off, .off, .on])
    }
}
