@preconcurrency import CGSL

/// The system GSL's callbacks reach through `params` (a box: one class type for the unmanaged pointer).
private final class SystemBox {
    let system: any ModeLockedSystem
    /// The same system when it is a deep network's field, called directly (`deepFieldFunction`;
    /// unmanaged: `system` keeps it, and no reference count moves per call).
    let deep: Unmanaged<DeepModeField>?
    /// Its `DeepModeField.Stage` (nil when the system is not a deep network's field).
    let stage: UnsafeMutablePointer<DeepModeField.Stage>?
    /// The same system when it is the shallow network's field, called directly (`fieldFunction`;
    /// unmanaged as `deep`: no existential dispatch, no reference count per call).
    let shallow: Unmanaged<ModeField>?
    /// Polled before every evaluation and Jacobian: true aborts the step (`GSLIntegrator.abort`).
    var abort: (() -> Bool)? {
        get { abortPoll?.poll }
        set {
            abortPoll = newValue.map(AbortPoll.init)
            abortRef = abortPoll.map { Unmanaged.passUnretained($0) }
        }
    }
    /// The request in a box of its own (kept here), and the same box unretained: read at every
    /// evaluation, an optional closure stored in a `var` was copied (its context retained and
    /// released) per call; the box's `let` closure is called borrowed (issue 22).
    private var abortPoll: AbortPoll? = nil
    private(set) var abortRef: Unmanaged<AbortPoll>? = nil
    final class AbortPoll {
        let poll: () -> Bool
        init(_ poll: @escaping () -> Bool) { self.poll = poll }
    }
    init(_ system: any ModeLockedSystem) {
        self.system = system
        let field = system as? DeepModeField
        deep = field.map { Unmanaged.passUnretained($0) }
        stage = field?.stage
        shallow = (system as? ModeField).map { Unmanaged.passUnretained($0) }
    }

    /// The system's `evaluate` (the shallow field's directly).
    @inline(__always)
    func evaluate(_ y: UnsafePointer<Double>, _ f: UnsafeMutablePointer<Double>) -> Bool {
        if let shallow { return shallow._withUnsafeGuaranteedRef { $0.evaluate(y, f) } }
        return system.evaluate(y, f)
    }
}

/// C entry points GSL calls; `params` is the unretained `SystemBox`.
private func fieldFunction(_ t: Double, _ y: UnsafePointer<Double>?, _ f: UnsafeMutablePointer<Double>?, _ params: UnsafeMutableRawPointer?) -> Int32 {
    // The box is alive for the integrator's lifetime: borrowed, not retained (called ~13 times a step).
    // Its two unmanaged references are read first (plain values), so that nothing below is a closure
    // over the box (issue 22: the closure was ~45 instructions a call).
    let box = Unmanaged<SystemBox>.fromOpaque(params.unsafelyUnwrapped)
    let y = y.unsafelyUnwrapped, f = f.unsafelyUnwrapped
    let (abort, shallow) = box._withUnsafeGuaranteedRef { ($0.abortRef, $0.shallow) }
    if let abort, abort._withUnsafeGuaranteedRef({ $0.poll() }) { return Int32(GSL_EBADFUNC) }
    let ok = if let shallow { shallow._withUnsafeGuaranteedRef { $0.evaluate(y, f) } }
             else { box._withUnsafeGuaranteedRef { $0.system.evaluate(y, f) } }
    return ok ? Int32(GSL_SUCCESS) : Int32(GSL_EBADFUNC)
}

/// `fieldFunction` for a deep network's field while no stop request is set:
/// `DeepModeField.stageEvaluate` directly, without the existential's dispatch and the request's
/// poll (13 calls a step; in a small network that dispatch is a noticeable part of a call). Its
/// fused pass through the field's `Stage` pointer (inlined here: no call into the class, no
/// closure, no reference count), else `evaluate`.
private func deepFieldFunction(_ t: Double, _ y: UnsafePointer<Double>?, _ f: UnsafeMutablePointer<Double>?,
                               _ params: UnsafeMutableRawPointer?) -> Int32 {
    let box = Unmanaged<SystemBox>.fromOpaque(params.unsafelyUnwrapped)
    let y = y.unsafelyUnwrapped, f = f.unsafelyUnwrapped
    let stage = box._withUnsafeGuaranteedRef { $0.stage.unsafelyUnwrapped }
    let ok = stage.pointee.fusedStage(y, f) ?? deepEvaluate(box, y, f)
    return ok ? Int32(GSL_SUCCESS) : Int32(GSL_EBADFUNC)
}

/// `DeepModeField.evaluate` for `deepFieldFunction` (a step's first stage, or before the mode's
/// first fused evaluation): out of line, so that the stages' path stays small.
@inline(never)
private func deepEvaluate(_ box: Unmanaged<SystemBox>, _ y: UnsafePointer<Double>, _ f: UnsafeMutablePointer<Double>) -> Bool {
    let deep = box._withUnsafeGuaranteedRef { $0.deep.unsafelyUnwrapped }
    return deep._withUnsafeGuaranteedRef { $0.evaluate(y, f) }
}

/// `fieldFunction` without the stop request's poll: the system of `GSLIntegrator.probeStep` (an
/// event locator's re-taken steps, which a companion integrator, without a request, took).
private func unpolledFieldFunction(_ t: Double, _ y: UnsafePointer<Double>?, _ f: UnsafeMutablePointer<Double>?,
                                   _ params: UnsafeMutableRawPointer?) -> Int32 {
    let ok = Unmanaged<SystemBox>.fromOpaque(params!)._withUnsafeGuaranteedRef { $0.evaluate(y!, f!) }
    return ok ? Int32(GSL_SUCCESS) : Int32(GSL_EBADFUNC)
}

private func fieldJacobian(_ t: Double, _ y: UnsafePointer<Double>?, _ dfdy: UnsafeMutablePointer<Double>?,
                           _ dfdt: UnsafeMutablePointer<Double>?, _ params: UnsafeMutableRawPointer?) -> Int32 {
    let box = Unmanaged<SystemBox>.fromOpaque(params!).takeUnretainedValue()
    if let abort = box.abort, abort() { return Int32(GSL_EBADFUNC) }
    let field = box.system
    let dim = field.dimension
    // The field at y, which the Jacobian's computation leaves behind (temporary storage: no heap
    // allocation per call).
    withUnsafeTemporaryAllocation(of: Double.self, capacity: dim) { scratch in
        field.jacobian(y!, dfdy!, scratch.baseAddress!)
    }
    dfdt!.initialize(repeating: 0, count: dim)
    for k in 0..<(dim * dim) where !dfdy![k].isFinite { return Int32(GSL_EBADFUNC) }
    return Int32(GSL_SUCCESS)
}

/// One GSL `odeiv2` driver (stepper + standard control + evolve) over a `ModeLockedSystem`.
/// The system struct lives at a stable address because GSL keeps a pointer to it.
final class GSLIntegrator {
    let stepper: Stepper
    let field: any ModeLockedSystem
    private let box: SystemBox
    private let system: UnsafeMutablePointer<gsl_odeiv2_system>
    /// The same system without the stop request (`probeStep`), in `system`'s allocation.
    private let probeSystem: UnsafeMutablePointer<gsl_odeiv2_system>
    let driver: UnsafeMutablePointer<gsl_odeiv2_driver>
    private let yerr: UnsafeMutablePointer<Double>
    /// The status of the last `reset` when it was not success: the next step returns it instead of
    /// stepping from a half-reset driver, so that the solver's failure paths report it.
    private var resetStatus = Int32(GSL_SUCCESS)

    init(field: any ModeLockedSystem, stepper: Stepper, rtol: Double, atol: Double, hstart: Double) {
        GSLRuntime.prepare()
        self.stepper = stepper.resolved
        self.field = field
        box = SystemBox(field)
        system = .allocate(capacity: 2)
        system.initialize(to: gsl_odeiv2_system(
            function: fieldFunction, jacobian: fieldJacobian, dimension: field.dimension,
            params: Unmanaged.passUnretained(box).toOpaque()))
        probeSystem = system + 1
        probeSystem.initialize(to: gsl_odeiv2_system(
            function: unpolledFieldFunction, jacobian: fieldJacobian, dimension: field.dimension,
            params: Unmanaged.passUnretained(box).toOpaque()))
        if box.deep != nil { probeSystem.pointee.function = deepFieldFunction }
        guard let d = gsl_odeiv2_driver_alloc_y_new(system, stepper.gslType, hstart, atol, rtol) else {
            fatalError("gsl_odeiv2_driver_alloc_y_new failed")
        }
        driver = d
        yerr = .allocate(capacity: field.dimension)
        if box.deep != nil { system.pointee.function = deepFieldFunction }
    }

    deinit {
        gsl_odeiv2_driver_free(driver)
        system.deallocate()
        yerr.deallocate()
    }

    /// One adaptive step towards `t1` (never past it), GSL's `evolve_apply`.
    func step(t: inout Double, to t1: Double, h: inout Double, y: UnsafeMutablePointer<Double>) -> Int32 {
        if resetStatus != GSL_SUCCESS { return resetStatus }
        return gsl_odeiv2_evolve_apply(driver.pointee.e, driver.pointee.c, driver.pointee.s, system, &t, t1, &h, y)
    }

    /// One step of size `h` without error control (`step_apply`), from y (overwritten).
    func singleStep(t: Double, h: Double, y: UnsafeMutablePointer<Double>, dydtIn: UnsafePointer<Double>?) -> Int32 {
        if resetStatus != GSL_SUCCESS { return resetStatus }
        return stepApply(t: t, h: h, y: y, dydtIn: dydtIn, on: system)
    }

    /// GSL's `step_apply` of the driver's stepper on `sys`, passing y'(t) where the stepper uses it.
    private func stepApply(t: Double, h: Double, y: UnsafeMutablePointer<Double>, dydtIn: UnsafePointer<Double>?,
                           on sys: UnsafeMutablePointer<gsl_odeiv2_system>) -> Int32 {
        let canUse = driver.pointee.s.pointee.type.pointee.can_use_dydt_in != 0
        return gsl_odeiv2_step_apply(driver.pointee.s, t, h, y, yerr, canUse ? dydtIn : nil, nil, sys)
    }

    /// `singleStep` for an event locator that shares this integrator's stepper (an explicit one-step
    /// method: `EventLocator`'s `sharing`), as its own companion would take it: the stepper reset
    /// (GSL's `step_reset`; the driver's evolve and control are the run's and stay as they are), one
    /// step on the system without the stop request. The run's next step reads nothing of it.
    func probeStep(t: Double, h: Double, y: UnsafeMutablePointer<Double>, dydtIn: UnsafePointer<Double>?) -> Int32 {
        let reset = gsl_odeiv2_step_reset(driver.pointee.s)
        if reset != GSL_SUCCESS { return reset }
        return stepApply(t: t, h: h, y: y, dydtIn: dydtIn, on: probeSystem)
    }

    /// Adaptive integration from t to t1 (`driver_apply`), starting with step `hstart`.
    func integrate(t: inout Double, to t1: Double, hstart: Double, y: UnsafeMutablePointer<Double>) -> Int32 {
        resetStatus = gsl_odeiv2_driver_reset_hstart(driver, hstart)
        if resetStatus != GSL_SUCCESS { return resetStatus }
        return gsl_odeiv2_driver_apply(driver, &t, t1, y)
    }

    /// Forget history (needed after every event: the field is only piecewise smooth). A failure
    /// is returned by the next step (`resetStatus`).
    func reset() {
        resetStatus = gsl_odeiv2_driver_reset(driver)
    }

    var failedSteps: Int { Int(driver.pointee.e.pointee.failed_steps) }

    /// A stop request polled before every field evaluation and Jacobian of a step: where it answers
    /// true the step fails with GSL_EBADFUNC (the driver then restores the step's start), so that
    /// a long step (an implicit stepper's Newton iterations and Jacobians on thousands of
    /// variables) ends within about one evaluation of the request.
    var abort: (() -> Bool)? {
        get { box.abort }
        set {
            box.abort = newValue
            // GSL reads the function at every call: the direct one only while nothing is polled.
            if box.deep != nil && newValue == nil {
                system.pointee.function = deepFieldFunction
            } else {
                system.pointee.function = fieldFunction
            }
        }
    }
}

extension GSLRuntime {
    /// GSL's description of a status code (`gsl_strerror`).
    static func describe(_ status: Int32) -> String { String(cString: gsl_strerror(status)) }
}
