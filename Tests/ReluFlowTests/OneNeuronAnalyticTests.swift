import Foundation
import XCTest
@testable import ReluFlow

/// One neuron, two points, closed forms.
///
/// While the neuron is active on x_0 alone (and off or sliding on x_1), only `p = c z_0` drives
/// the motion: `ċ = −(1/m) r_0 z_0`, `ż_0 = −(a/m) c r_0` with `r_0 = p − y_0` and
/// `a = |x̃_0|²` (off) or `a = |x̃_0|² − (x̃_0·x̃_1)²/|x̃_1|²` (sliding on x_1: the velocity is
/// projected off x̃_1). Then `K = a c² − z_0²` is conserved, `a c² + z_0² = S(p) = √(K² + 4ap²)`, and
/// `ṗ = −(1/m)(p − y_0) S(p)`, so `t(p) = (m / 2√a) [F(p) − F(p_start)]` with
/// `F(x) = ln|(β² + y_0 x + s √(x² + β²)) / (x − y_0)| / s`, `β² = K²/4a`, `s = √(y_0² + β²)`.
/// (w, b) moves along x̃_0 (off) or its projection P x̃_0 (sliding), so z_1 is affine in z_0.
final class OneNeuronAnalyticTests: XCTestCase {
    // Geometry: x_0 = 1 (active), x_1 = −0.5 (off, approaching), m = 2, y_0 = 3.
    let x0 = 1.0, x1 = -0.5, y0 = 3.0, m = 2.0
    let w = 1.0, b = 0.45, c = 0.5   // z_0 = 1.45, z_1 = −0.05

    struct Reduced {
        let a: Double, K: Double, y0: Double, m: Double
        func F(_ x: Double) -> Double {
            let beta2 = K * K / (4 * a), s = (y0 * y0 + beta2).squareRoot()
            return log(abs((beta2 + y0 * x + s * (x * x + beta2).squareRoot()) / (x - y0))) / s
        }
        func time(from p0: Double, to p: Double) -> Double { m / (2 * a.squareRoot()) * (F(p) - F(p0)) }
        /// z_0 > 0 for a given p.
        func z(_ p: Double) -> Double { (((K * K + 4 * a * p * p).squareRoot() - K) / 2).squareRoot() }
        /// p with z(p) = z (p > 0).
        func p(forZ z: Double) -> Double { (z * z * (K + z * z) / a).squareRoot() }
        /// p(t) by bisection on the monotone t(p) (p moves from p0 towards y0).
        func p(after t: Double, from p0: Double) -> Double {
            var lo = p0, hi = y0
            for _ in 0..<200 {
                let mid = (lo + hi) / 2
                if time(from: p0, to: mid) < t { lo = mid } else { hi = mid }
            }
            return (lo + hi) / 2
        }
    }

    /// First phase, closed form: the time z_1 reaches 0 and the state there.
    func firstPhase() -> (t: Double, w: Double, b: Double, c: Double, z0: Double) {
        let a = x0 * x0 + 1, dot = x0 * x1 + 1
        let z0start = w * x0 + b, z1start = w * x1 + b
        let reduced = Reduced(a: a, K: a * c * c - z0start * z0start, y0: y0, m: m)
        let z0hit = z0start - z1start * a / dot
        let pHit = reduced.p(forZ: z0hit)
        let tHit = reduced.time(from: c * z0start, to: pHit)
        let dz = z0hit - z0start
        return (tHit, w + dz / a * x0, b + dz / a, pHit / z0hit, z0hit)
    }

    /// y_1 = 0: r_1 = 0 on the surface, so v⁺ = v⁻ > 0: a crossing into `on` at a closed-form time.
    func testCrossingTimeAndStateMatchClosedForm() throws {
        let expected = firstPhase()
        XCTAssertGreaterThan(expected.t, 0.1)
        let problem = try makeProblem(x: [[x0], [x1]], y: [y0, 0], W: [[w]], b: [b], c: [c],
                                      T: expected.t + 0.5, rtol: 1e-12, atol: 1e-14)
        let solution = solve(problem)
        XCTAssertEqual(solution.status, .completed)
        let first = try XCTUnwrap(solution.events.first)
        XCTAssertEqual(first.kind, .on)
        XCTAssertEqual(first.neuron, 0)
        XCTAssertEqual(first.point, 1)
        // Event times: 1e-10 (|ż_1| ≈ 0.33 here, so a state error of ~1e-12 moves the time by ~3e-12).
        XCTAssertEqual(first.t, expected.t, accuracy: 1e-10)
        let s = try XCTUnwrap(sample(at: first.t, in: solution))
        XCTAssertEqual(s.theta[0], expected.w, accuracy: 1e-10)
        XCTAssertEqual(s.theta[1], expected.b, accuracy: 1e-10)
        XCTAssertEqual(s.theta[2], expected.c, accuracy: 1e-10)
        // On the surface exactly after the event (projection).
        XCTAssertEqual(s.theta[0] * x1 + s.theta[1], 0, accuracy: 1e-15)
    }

    /// y_1 = −2: on the surface r_1 = 2, c r_1 > 0 and v⁺ < 0 < v⁻: the pair slides. While sliding,
    /// the reduced system with the projected a' holds, and α = −r_0 (x̃_0·x̃_1) / (r_1 |x̃_1|²).
    func testSlidingEntryAndMotionMatchClosedForm() throws {
        let hit = firstPhase()
        let y1 = -2.0
        // Attracting: v⁻ = −(c/m) r_0 (x̃_0·x̃_1) > 0 and v⁺ = v⁻ + (c y_1/m)|x̃_1|² < 0.
        let dot = x0 * x1 + 1, n1 = x1 * x1 + 1
        let r0hit = hit.c * hit.z0 - y0
        let vMinus = -(hit.c / m) * r0hit * dot, vPlus = vMinus + hit.c * y1 / m * n1
        XCTAssertGreaterThan(vMinus, 0)
        XCTAssertLessThan(vPlus, 0)
        let tau = 2.0
        let problem = try makeProblem(x: [[x0], [x1]], y: [y0, y1], W: [[w]], b: [b], c: [c],
                                      T: hit.t + tau, rtol: 1e-12, atol: 1e-14)
        let solution = solve(problem)
        XCTAssertEqual(solution.status, .completed)
        XCTAssertEqual(solution.events.count, 1, "one event: entry into sliding, no exit (α → 0 only asymptotically)")
        let entry = try XCTUnwrap(solution.events.first)
        XCTAssertEqual(entry.kind, .slide)
        XCTAssertEqual(entry.state, .sliding)
        XCTAssertEqual(entry.t, hit.t, accuracy: 1e-10)

        // Second phase in closed form.
        let aSlide = (x0 * x0 + 1) - dot * dot / n1
        let reduced = Reduced(a: aSlide, K: aSlide * hit.c * hit.c - hit.z0 * hit.z0, y0: y0, m: m)
        let pEnd = reduced.p(after: tau, from: hit.c * hit.z0)
        let z0End = reduced.z(pEnd)
        let dz = z0End - hit.z0
        // P x̃_0 = x̃_0 − (x̃_0·x̃_1/|x̃_1|²) x̃_1
        let px = (x0 - dot / n1 * x1, 1 - dot / n1)
        let theta = solution.finalTheta
        // Final state: 1e-9 (the closed form's bisection is exact to ~1e-15; the flow's global error at rtol 1e-12 is ~1e-11).
        XCTAssertEqual(theta[2], pEnd / z0End, accuracy: 1e-9)
        XCTAssertEqual(theta[0], hit.w + dz / aSlide * px.0, accuracy: 1e-9)
        XCTAssertEqual(theta[1], hit.b + dz / aSlide * px.1, accuracy: 1e-9)
        // Still exactly on the surface.
        XCTAssertEqual(theta[0] * x1 + theta[1], 0, accuracy: 1e-14)
        // α from the field matches the closed form.
        let field = ModeField(network: problem.network, data: problem.data)
        var states = [PairState](repeating: .on, count: 2)
        states[1] = .sliding
        field.setMode(states)
        var y = theta + [0], f = [Double](repeating: 0, count: field.dimension)
        let alpha = field.evaluation(at: &y, into: &f).alpha(1)
        let r0 = pEnd - y0, r1 = -y1
        let alphaExpected = -r0 * dot / (r1 * n1)
        XCTAssertEqual(alpha, alphaExpected, accuracy: 1e-9)
        XCTAssertTrue(alpha > 0 && alpha < 1)
    }

    /// A pair that starts on a repelling surface (v⁻ < 0 < v⁺, c r_1 < 0): both sides are Filippov
    /// continuations; the documented rule takes the larger |f±|² and logs `branch`.
    func testRepellingStartTakesSteepestSideAndLogsBranch() throws {
        for y1 in [1.0, 0.45] {
            // x_0 = 1 on (z_0 = 1.5), x_1 = −0.5 on its surface (z_1 = 0); y_0 = 0 so r_0 = c z_0 > 0.
            let wr = 1.0, br = 0.5, cr = 0.5
            let r0 = cr * (wr * x0 + br), r1 = -y1
            let dot = x0 * x1 + 1, n1 = x1 * x1 + 1
            let vMinus = -(cr / m) * r0 * dot, vPlus = vMinus - (cr / m) * r1 * n1
            XCTAssertLessThan(vMinus, 0)
            XCTAssertGreaterThan(vPlus, 0)
            let fMinus = (-(cr / m) * r0 * x0, -(cr / m) * r0)
            let fPlus = (fMinus.0 - (cr / m) * r1 * x1, fMinus.1 - (cr / m) * r1)
            let plusSteeper = fPlus.0 * fPlus.0 + fPlus.1 * fPlus.1 > fMinus.0 * fMinus.0 + fMinus.1 * fMinus.1
            let problem = try makeProblem(x: [[x0], [x1]], y: [0, y1], W: [[wr]], b: [br], c: [cr], T: 0.05)
            let solution = solve(problem)
            let first = try XCTUnwrap(solution.events.first)
            XCTAssertEqual(first.t, 0)
            XCTAssertEqual(first.point, 1)
            XCTAssertEqual(first.kind, .branch, "y1 = \(y1)")
            XCTAssertEqual(first.state, plusSteeper ? .on : .off, "y1 = \(y1)")
            // The pair then moves away from the surface to the chosen side.
            let z1 = solution.finalTheta[0] * x1 + solution.finalTheta[1]
            XCTAssertTrue(plusSteeper ? z1 > 0 : z1 < 0)
        }
    }
}
