import Foundation

/// Dense output inside an accepted step (`SampleOutput.dense`): the state at a time inside a step
/// of one mode, from the step's ends, so that the sample grid does not steer the stepper.
///
/// Within one mode the field f is smooth (polynomial in θ, SPEC §3). With values y, slopes f and
/// second derivatives ÿ = J f at both ends of the step [t₀, t₀ + H], s = (t − t₀)/H, the quartic
/// Hermite–Birkhoff interpolant q₄ (y₀, f₀, ÿ₀, y₁, f₁) has error y⁽⁵⁾ H⁵ s³(1 − s)²/120 and the
/// quintic q₅ (all six) one order less; |q₅ − q₄| estimates q₄'s error. q₅ is taken (local
/// extrapolation, as an embedded Runge–Kutta pair does) when that estimate lies within the step
/// control's tolerance atol + rtol·|y_p| in every component p (the control GSL applies to the step
/// itself); otherwise the caller re-takes the step from its start to the sample time
/// (`EventLocator.advance`), whose error the step's own acceptance bounds.
///
/// ÿ = J f is a central difference along f, (f(y + δf) − f(y − δf))/2δ with δ|f|∞ = ε^(1/3) (1 + |y|∞):
/// two evaluations per step end, kept for the next step when it starts at the same state in the
/// same mode. Its relative error, about ε^(2/3), enters q₅ with the weight H² s²(1 − s)³/2 ≤ 0.018 H²,
/// far below the tolerance.
final class DenseSampler {
    /// The ends of one accepted step in one mode.
    struct Step {
        let t0: Double
        let H: Double
        let y0: UnsafePointer<Double>
        let f0: UnsafePointer<Double>
        let y1: UnsafePointer<Double>
        let f1: UnsafePointer<Double>
    }

    let field: any ModeLockedSystem
    let dim: Int
    let rtol: Double, atol: Double
    private let a0: UnsafeMutablePointer<Double>
    private let a1: UnsafeMutablePointer<Double>
    private let shifted: UnsafeMutablePointer<Double>
    private let fShifted: UnsafeMutablePointer<Double>
    /// The state, time and mode of `a1` (the second derivative at the last step end computed).
    private let cachedState: UnsafeMutablePointer<Double>
    private var cachedTime = Double.nan
    private var cachedMode = -1
    /// The step whose second derivatives `a0`, `a1` hold (by its start time, size and mode).
    private var preparedStep: (t0: Double, H: Double, mode: Int)? = nil
    private var prepared = false

    init(field: any ModeLockedSystem, rtol: Double, atol: Double) {
        self.field = field
        dim = field.dimension
        self.rtol = rtol
        self.atol = atol
        a0 = .allocate(capacity: dim)
        a1 = .allocate(capacity: dim)
        shifted = .allocate(capacity: dim)
        fShifted = .allocate(capacity: dim)
        cachedState = .allocate(capacity: dim)
    }

    deinit {
        for p in [a0, a1, shifted, fShifted, cachedState] { p.deallocate() }
    }

    /// ÿ = J f at y (field f there) into `out`, by a forward difference along f; false when the
    /// shifted evaluation is not finite.
    private func secondDerivative(_ y: UnsafePointer<Double>, _ f: UnsafePointer<Double>,
                                  into out: UnsafeMutablePointer<Double>) -> Bool {
        var fMax = 0.0, yMax = 0.0
        for p in 0..<dim {
            fMax = max(fMax, abs(f[p]))
            yMax = max(yMax, abs(y[p]))
        }
        guard fMax > 0 else {
            out.initialize(repeating: 0, count: dim)
            return true
        }
        let delta = pow(Double.ulpOfOne, 1.0 / 3) * (1 + yMax) / fMax
        for p in 0..<dim { shifted[p] = y[p] + delta * f[p] }
        guard field.evaluate(shifted, out) else { return false }
        for p in 0..<dim { shifted[p] = y[p] - delta * f[p] }
        guard field.evaluate(shifted, fShifted) else { return false }
        for p in 0..<dim { out[p] = (out[p] - fShifted[p]) / (2 * delta) }
        return true
    }

    /// Computes the second derivatives at both ends of `step` (once per step).
    private func prepare(_ step: Step) -> Bool {
        let mode = field.modeChanges
        if let p = preparedStep, p.t0 == step.t0, p.H == step.H, p.mode == mode { return prepared }
        preparedStep = (step.t0, step.H, mode)
        prepared = false
        var reuse = cachedTime == step.t0 && cachedMode == mode
        if reuse { for p in 0..<dim where cachedState[p] != step.y0[p] { reuse = false; break } }
        if reuse {
            a0.update(from: a1, count: dim)
        } else if !secondDerivative(step.y0, step.f0, into: a0) {
            return false
        }
        guard secondDerivative(step.y1, step.f1, into: a1) else { return false }
        cachedTime = step.t0 + step.H
        cachedMode = mode
        cachedState.update(from: step.y1, count: dim)
        prepared = true
        return true
    }

    /// The quintic Hermite interpolant of `step` at s ∈ (0, 1) into `out` when the estimated error
    /// of the quartic one is within the tolerance in every component; false otherwise.
    func interpolate(_ step: Step, at s: Double, into out: UnsafeMutablePointer<Double>) -> Bool {
        guard prepare(step) else { return false }
        let H = step.H, H2 = H * H
        let bump = s * s * (1 - s) * (1 - s)
        for p in 0..<dim {
            let e0 = step.y0[p], d0 = H * step.f0[p], e1 = step.y1[p], d1 = H * step.f1[p]
            // The cubic c₃ = a s³ + b s² + d0 s + e0; q₄ = c₃ + (ÿ₀H²/2 − b) s²(1 − s)² matches ÿ₀ too.
            let b = -3 * e0 - 2 * d0 + 3 * e1 - d1
            let q4 = EventDetector.hermite(s, e0: e0, d0: d0, e1: e1, d1: d1) + (0.5 * H2 * a0[p] - b) * bump
            let q5 = EventDetector.quinticHermite(s, e0: e0, d0: d0, a0: H2 * a0[p], e1: e1, d1: d1, a1: H2 * a1[p])
            guard abs(q5 - q4) <= atol + rtol * abs(q5) else { return false }
            out[p] = q5
        }
        return true
    }
}
