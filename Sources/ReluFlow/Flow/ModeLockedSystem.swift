/// The mode-locked system the integrator steps (SPEC §3): a state y = (θ, D) of `dimension`
/// entries whose field f = (−∇L_M, |∇L_M|²) is smooth within a mode M (the activation state of
/// every pair) and is evaluated with its count. The parts that only step and interpolate the
/// system talk to it through this protocol: `GSLIntegrator` (GSL's system callbacks) and
/// `DenseSampler` (dense output). `ModeField`, the shallow network's field, conforms.
///
/// The whole seam a network's field conforms to is `SwitchedSystem` (this protocol plus the
/// switching functions and Filippov decisions the driver, detector, locator and resolution use).
protocol ModeLockedSystem: AnyObject {
    /// Entries of the state: P parameters and the dissipation quadrature D.
    var dimension: Int { get }
    /// f(y) in the current mode into f, counted as one RHS evaluation; false when f is not finite
    /// or the system's linear algebra failed.
    @discardableResult
    func evaluate(_ y: UnsafePointer<Double>, _ f: UnsafeMutablePointer<Double>) -> Bool
    /// ∂f/∂y (row-major dimension²) into `dfdy`, and f into `f`, counted as one Jacobian evaluation.
    func jacobian(_ y: UnsafePointer<Double>, _ dfdy: UnsafeMutablePointer<Double>, _ f: UnsafeMutablePointer<Double>)
    /// Changes whenever the mode does: quantities computed in one mode apply while it is unchanged.
    var modeChanges: Int { get }
}

extension ModeField: ModeLockedSystem {}
