import Foundation
import XCTest
@testable import ReluFlow

/// The Filippov decision on its own (SPEC §4), on one neuron (d = 1, c = 1, no output bias) whose
/// surface passes through the point x = 1 (w = 1, b = −1), with a second point x = 2 on its active
/// side and a third, x = −1, off. With m = 3 and R_q = σ(z_q) − y_q the one-sided normal velocities
/// of the pair at x = 1 are, exactly, v⁻ = −R(2) = y(2) − 1 (pair off) and v⁺ = v⁻ + (2/3) y(1)
/// (pair on: its own term −(1/3) R(1) |x̃|² with R(1) = −y(1)). The cases choose y(1), y(2) so that
/// the velocities are ±1: far from the resolver's tolerance (about 1e-12 of |R|), so each decision
/// is exact.
final class FilippovResolverTests: XCTestCase {
    struct Case {
        let name: String
        let y1: Double, y2: Double
        let from: PairState
        let expected: (to: PairState, kind: EventKind)?
        var repeated = false
        var reportUnchanged = false
    }

    func field(_ targets: [Double], w: Double = 1, b: Double = -1) throws -> (ModeField, [Double]) {
        let problem = try makeProblem(x: [[1], [2], [-1]], y: targets, W: [[w]], b: [b], c: [1], T: 1)
        return (ModeField(network: problem.network, data: problem.data), problem.theta0 + [0])
    }

    func testDecisionTable() throws {
        let cases = [
            // v⁻ = 1, v⁺ = 1: the flow crosses from off to on.
            Case(name: "crossing on", y1: 0, y2: 2, from: .off, expected: (.on, .on)),
            // v⁻ = −1, v⁺ = −1: from on to off.
            Case(name: "crossing off", y1: 0, y2: 0, from: .on, expected: (.off, .off)),
            // v⁻ = 1 > 0 > v⁺ = −1 and c R(1) = 3 > 0: an attracting surface, the pair slides.
            Case(name: "attracting slide", y1: -3, y2: 2, from: .off, expected: (.sliding, .slide)),
            // Sliding with both sides pushing to on (α outside [0, 1]): the slide ends on the on side.
            Case(name: "slide end", y1: 0, y2: 2, from: .sliding, expected: (.on, .slideEnd)),
            // v⁻ = −1 < 0 < v⁺ = 3, repelling (c R(1) = −6): both sides are consistent when nothing
            // is excluded (a pair that starts on its surface): the steeper one, on (the neuron's
            // velocity F = (4/3, 5/3), |F|² = 41/9, against (−2/3, −1/3), 5/9 off; f_c equal),
            // logged as branch.
            Case(name: "repelling branch", y1: 6, y2: 0, from: .off, expected: (.on, .branch), reportUnchanged: true),
            // The mirror image: v⁻ = −3 < 0 < v⁺ = 1; off is the steeper side (F = (−2, −1), |F|² = 5,
            // against (0, 1) on).
            Case(name: "repelling branch, off", y1: 6, y2: -2, from: .on, expected: (.off, .branch), reportUnchanged: true),
            // The same pair decided again at this instant: logged as graze.
            Case(name: "repeated decision", y1: 0, y2: 2, from: .off, expected: (.on, .graze), repeated: true),
            // Tangent on both sides: v⁻ = v⁺ = 0 exactly (R(2) = 0 and no jump, R(1) = 0). From on
            // (excluded), off is the continuation (sliding has no α: R(1) = 0), and its normal
            // velocity and the approach's vanish: logged as graze.
            Case(name: "graze from on", y1: 0, y2: 1, from: .on, expected: (.off, .graze)),
            // The mirror, from off: on, as graze.
            Case(name: "graze from off", y1: 0, y2: 1, from: .off, expected: (.on, .graze)),
            // A tangential approach with a transversal departure: v⁻ = 0 exactly (R(2) = 0), v⁺ = 1.
            // The pair goes on (sliding needs c R(1) = −1.5 > 0) and is logged as the crossing: the
            // resolver logs graze when the continuation it takes is itself tangent (above), not for
            // a tangent approach alone.
            Case(name: "tangent approach, transversal departure", y1: 1.5, y2: 1, from: .off, expected: (.on, .on)),
            // One unit away from tangency (v⁻ = 1, v⁺ = 2): an ordinary crossing.
            Case(name: "transversal", y1: 1.5, y2: 2, from: .off, expected: (.on, .on)),
        ]
        for c in cases {
            let (field, y) = try self.field([c.y1, c.y2, 0])
            let g = field.pointsOfGroup.firstIndex { $0 == [0] }!
            var states = [PairState](repeating: .off, count: field.G)
            states[field.pointsOfGroup.firstIndex { $0 == [1] }!] = .on
            states[g] = c.from
            field.setMode(states)
            let resolver = FilippovResolver(field: field)
            let transitions = y.withUnsafeBufferPointer {
                resolver.resolve($0.baseAddress!, eventPairs: [(0, g)], excluded: c.reportUnchanged ? [:] : [g: [c.from]],
                                 repeated: c.repeated ? [g] : [], reportUnchanged: c.reportUnchanged)
            }
            guard let expected = c.expected else {
                XCTAssertTrue(transitions.isEmpty, c.name)
                continue
            }
            XCTAssertEqual(transitions.count, 1, c.name)
            XCTAssertEqual(transitions.first?.to, expected.to, c.name)
            XCTAssertEqual(transitions.first?.kind, expected.kind, c.name)
        }
    }

    /// Several surfaces of one neuron at once (d = 2): the surface x₂ = 0 of w = (0, 1), b = 0
    /// holds the points A = (1, 0) and B = (−0.5, 0) (two surfaces, x̃_A·x̃_B = 0.5: coupled), with
    /// C = (0, 1) on and D = (0, −1) off. Targets y_A = y_B = −2 make both attract (c R = 2 > 0) and
    /// y_C = 3 (R_C = −2) pushes the neuron onto both from the off side. The resolver must slide on
    /// both, and the field's α's must be the Filippov weights that keep both normal velocities zero:
    /// F(α) = −(c/m)(R_C x̃_C + α_A R_A x̃_A + α_B R_B x̃_B), x̃_A·F = x̃_B·F = 0, a 2×2 system solved
    /// here by Cramer's rule, independently of the field's projection. Tolerance 1e-12: both are
    /// exact solutions of the same well-conditioned system (condition number about 2).
    func testSeveralAttractingSurfacesSlideTogether() throws {
        let x: [[Double]] = [[1, 0], [-0.5, 0], [0, 1], [0, -1]]
        let targets = [-2.0, -2.0, 3.0, 0.0]
        let problem = try makeProblem(x: x, y: targets, W: [[0, 1]], b: [0], c: [1], T: 1)
        let field = ModeField(network: problem.network, data: problem.data)
        var y = problem.theta0 + [0]
        let group = { (q: Int) in field.pointsOfGroup.firstIndex { $0 == [q] }! }
        let (a, b) = (group(0), group(1))
        var states = [PairState](repeating: .off, count: field.G)
        states[group(2)] = .on
        field.setMode(states)
        let transitions = y.withUnsafeBufferPointer {
            FilippovResolver(field: field).resolve($0.baseAddress!, eventPairs: [(0, a), (0, b)], excluded: [a: [.off], b: [.off]])
        }
        XCTAssertEqual(Set(transitions.map(\.group)), [a, b])
        XCTAssertTrue(transitions.allSatisfy { $0.to == .sliding && $0.kind == .slide }, "\(transitions.map { ($0.to, $0.kind) })")
        // α from the independent 2×2 solve.
        let m = 4.0, R = [-targets[0], -targets[1], 1 - targets[2]]   // R_A, R_B at z = 0; R_C = σ(1) − y_C
        let xt = x.prefix(3).map { [$0[0], $0[1], 1.0] }
        func dot(_ u: [Double], _ v: [Double]) -> Double { zip(u, v).reduce(0) { $0 + $1.0 * $1.1 } }
        // x̃_p·F = 0 ⇔ Σ_q α_q R_q (x̃_p·x̃_q) = −R_C (x̃_p·x̃_C), p, q ∈ {A, B} (the factor −c/m drops out).
        let m11 = R[0] * dot(xt[0], xt[0]), m12 = R[1] * dot(xt[0], xt[1])
        let m21 = R[0] * dot(xt[1], xt[0]), m22 = R[1] * dot(xt[1], xt[1])
        let r1 = -R[2] * dot(xt[0], xt[2]), r2 = -R[2] * dot(xt[1], xt[2])
        let det = m11 * m22 - m12 * m21
        let alphaA = (r1 * m22 - m12 * r2) / det, alphaB = (m11 * r2 - r1 * m21) / det
        XCTAssertTrue(alphaA > 0 && alphaA < 1 && alphaB > 0 && alphaB < 1, "the case must be a genuine slide: \(alphaA), \(alphaB)")
        var sliding = states
        sliding[a] = .sliding
        sliding[b] = .sliding
        field.setMode(sliding)
        var f = [Double](repeating: 0, count: field.dimension)
        let evaluation = field.evaluation(at: &y, into: &f)
        XCTAssertEqual(evaluation.alpha(a), alphaA, accuracy: 1e-12)
        XCTAssertEqual(evaluation.alpha(b), alphaB, accuracy: 1e-12)
        // The sliding velocity is tangent to both surfaces: ẇ₁ + ḃ = 0 and −0.5 ẇ₁ + ḃ = 0 (f's
        // (w, b) block: w at 0, 1; b at 2), and F is the closed form −(1/m)(R_C x̃_C + Σ α R x̃).
        let F = (0..<3).map { k in -(R[2] * xt[2][k] + alphaA * R[0] * xt[0][k] + alphaB * R[1] * xt[1][k]) / m }
        XCTAssertEqual(f[0], F[0], accuracy: 1e-12)
        XCTAssertEqual(f[1], F[1], accuracy: 1e-12)
        XCTAssertEqual(f[2], F[2], accuracy: 1e-12)
        XCTAssertEqual(f[0] + f[2], 0, accuracy: 1e-14)
        XCTAssertEqual(-0.5 * f[0] + f[2], 0, accuracy: 1e-14)
    }

    /// The zero-weight corner: w = b = 0 puts every pair of the neuron on its surface (three
    /// surfaces at once). With positive targets no surface attracts (c R_q = −y_q < 0), so every
    /// continuation is a choice of on/off per pair; it must be consistent (on pairs with normal
    /// velocity x̃_q·F ≥ 0, off pairs ≤ 0, F = −(1/3) Σ_on R_q x̃_q) and, among the consistent ones,
    /// the steepest (largest |f|² = |F|² here, f_c = 0 at z = 0): computed here by enumerating all
    /// eight, independently of the resolver.
    func testZeroWeightCorner() throws {
        let x = [1.0, 2.0, -1.0], targets = [1.0, 0.5, 2.0]
        let (field, y) = try self.field(targets, w: 0, b: 0)
        field.setMode([PairState](repeating: .off, count: field.G))
        let resolver = FilippovResolver(field: field)
        let pairs = (0..<field.G).map { (0, $0) }
        let transitions = y.withUnsafeBufferPointer {
            resolver.resolve($0.baseAddress!, eventPairs: pairs, reportUnchanged: true)
        }
        var chosen = [PairState](repeating: .off, count: 3)
        for tr in transitions { chosen[field.pointsOfGroup[tr.group][0]] = tr.to }
        var best: (norm: Double, on: [Bool])? = nil
        var consistentCount = 0
        for mask in 0..<8 {
            let on = (0..<3).map { mask & (1 << $0) != 0 }
            var F = (0.0, 0.0)
            for q in 0..<3 where on[q] { F.0 += targets[q] * x[q] / 3; F.1 += targets[q] / 3 }   // −R_q = y_q
            let consistent = (0..<3).allSatisfy { q in
                let v = x[q] * F.0 + F.1
                return on[q] ? v >= 0 : v <= 0
            }
            guard consistent else { continue }
            consistentCount += 1
            let norm = F.0 * F.0 + F.1 * F.1
            if best == nil || norm > best!.norm { best = (norm, on) }
        }
        XCTAssertGreaterThan(consistentCount, 1, "the corner has several consistent continuations")
        XCTAssertEqual(chosen.map { $0 == .on }, best!.on)
        XCTAssertFalse(chosen.contains(.sliding))
        XCTAssertTrue(transitions.allSatisfy { $0.kind == .branch }, "\(transitions.map(\.kind))")
    }

    /// A NaN reaching the decision (here neuron 1's c is NaN, so every residual R is): the
    /// continuations off and on of the pair at x = 1 both passed the consistency test (NaN
    /// violations count as none) and none had the steepest one's velocity (NaN ≠ NaN), so
    /// `enumerate` crashed at a force-unwrap. Now it is a diagnosed failure on the field (the solver
    /// stops the run there with the last good state, status failed, exit 1) and nothing changes.
    func testNonFiniteVelocityIsADiagnosedFailure() throws {
        let problem = try makeProblem(x: [[1], [2], [-1]], y: [0, 2, 0], W: [[1], [1]], b: [-1, 0], c: [1, 1], T: 1)
        let field = ModeField(network: problem.network, data: problem.data)
        var y = problem.theta0 + [0]
        y[5] = .nan   // θ = [W (2), b (2), c (2)]: c_1
        let group = { (q: Int) in field.pointsOfGroup.firstIndex { $0 == [q] }! }
        var states = [PairState](repeating: .off, count: field.n * field.G)
        states[group(1)] = .on
        states[field.G + group(0)] = .on
        states[field.G + group(1)] = .on
        field.setMode(states)
        let transitions = y.withUnsafeBufferPointer {
            FilippovResolver(field: field).resolve($0.baseAddress!, eventPairs: [(0, group(0))])
        }
        XCTAssertTrue(transitions.isEmpty, "\(transitions.map { ($0.neuron, $0.group, $0.to) })")
        let failure = try XCTUnwrap(field.failure(at: 0.5))
        XCTAssertTrue(failure.message.contains("not finite"), failure.message)
    }
}
