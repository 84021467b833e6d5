/// Dense output inside an accepted step (`SampleOutput.dense`): the state at a time inside a step
/// of one mode, from the step's ends, so that the sample grid does not steer the stepper.
///
/// Within one mode the field f is smooth (polynomial in θ, SPEC §3), so the cubic Hermite
/// interpolant c₃ of the step (y₀, f₀, y₁, f₁ over [t₀, t₀ + H]) has error
/// y⁽⁴⁾(ξ) H⁴ s²(1 − s)²/24 at s = (t − t₀)/H. Its error is estimated against the quintic Hermite
/// interpolant q₅, which also matches ÿ = J f at both ends: |q₅ − c₃| is c₃'s error to leading
/// order. c₃ is taken when that estimate lies within the step control's tolerance
/// atol + rtol·|y_p| in every component p (the control GSL applies to the step itself); otherwise
/// the caller re-takes the step from its start to the sample time (`EventLocator.advance`),
/// whose error the step's own acceptance bounds.
///
/// ÿ = J f is a forward difference along f, (f(y + δf) − f(y))/δ with δ|f|∞ = √ε (1 + |y|∞): one
/// evaluation per step end, kept for the next step when it starts at the same state in the same
/// mode. Its relative error (about √ε) enters the estimate only, not the value taken.
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
        let delta = Double.ulpOfOne.squareRoot() * (1 + yMax) / fMax
        for p in 0..<dim { shifted[p] = y[p] + delta * f[p] }
        guard field.evaluate(shifted, fShifted) else { return false }
        for p in 0..<dim { out[p] = (fShifted[p] - f[p]) / delta }
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

    /// The cubic Hermite interpolant of `step` at s ∈ (0, 1) into `out` when its estimated error
    /// is within the tolerance in every component; false otherwise (`out` then holds c₃ anyway).
    func interpolate(_ step: Step, at s: Double, into out: UnsafeMutablePointer<Double>) -> Bool {
        let ok = prepare(step)
        let H = step.H, H2 = H * H
        for p in 0..<dim {
            out[p] = EventDetector.hermite(s, e0: step.y0[p], d0: H * step.f0[p], e1: step.y1[p], d1: H * step.f1[p])
        }
        guard ok else { return false }
        for p in 0..<dim {
            let q = EventDetector.quinticHermite(s, e0: step.y0[p], d0: H * step.f0[p], a0: H2 * a0[p],
                                                 e1: step.y1[p], d1: H * step.f1[p], a1: H2 * a1[p])
            guard abs(q - out[p]) <= atol + rtol * abs(out[p]) else { return false }
        }
        return true
    }
}
