import Foundation
@preconcurrency import CGSL

/// The system GSL's callbacks reach through `params` (a box: one class type for the unmanaged pointer).
private final class SystemBox {
    let system: any ModeLockedSystem
    /// The same system when it is a deep network's field, called directly (`deepFieldFunction`;
    /// unmanaged: `system` keeps it, and no reference count moves per call).
    let deep: Unmanaged<DeepModeField>?
    /// Polled before every evaluation and Jacobian: true aborts the step (`GSLIntegrator.abort`).
    var abort: (() -> Bool)? = nil
    init(_ system: any ModeLockedSystem) {
        self.system = system
        deep = (system as? DeepModeField).map { Unmanaged.passUnretained($0) }
    }
}

/// C entry points GSL calls; `params` is the unretained `SystemBox`.
private func fieldFunction(_ t: Double, _ y: UnsafePointer<Double>?, _ f: UnsafeMutablePointer<Double>?, _ params: UnsafeMutableRawPointer?) -> Int32 {
    // The box is alive for the integrator's lifetime: borrowed, not retained (called ~13 times a step).
    let ok = Unmanaged<SystemBox>.fromOpaque(params!)._withUnsafeGuaranteedRef { box in
        if let abort = box.abort, abort() { return false }
        return box.system.evaluate(y!, f!)
    }
    return ok ? Int32(GSL_SUCCESS) : Int32(GSL_EBADFUNC)
}

/// `fieldFunction` for a deep network's field without a stop request: a direct call of its
/// `evaluate`, without the existential's dispatch and the request's check (13 calls a step; in a
/// small network the field itself is only ~30 times that dispatch).
private func deepFieldFunction(_ t: Double, _ y: UnsafePointer<Double>?, _ f: UnsafeMutablePointer<Double>?,
                               _ params: UnsafeMutableRawPointer?) -> Int32 {
    let deep = Unmanaged<SystemBox>.fromOpaque(params.unsafelyUnwrapped)._withUnsafeGuaranteedRef { $0.deep.unsafelyUnwrapped }
    let ok = deep._withUnsafeGuaranteedRef { $0.stageEvaluate(y.unsafelyUnwrapped, f.unsafelyUnwrapped) }
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

/// GSL's standard step control (`gsl_odeiv2_control_y_new`, `control_init`'s a_y and a_dydt), its
/// error ratio's maximum taken four components at a time (the driver calls `hadjust` after every
/// step; GSL's loop takes one division per component). The same operations on each component, so
/// the same results bit for bit (StandardControlTests):
/// D_i = ε_rel (a_y |y_i| + a_dydt |h y'_i|) + ε_abs, r_i = |yerr_i| / |D_i|, r = max_i r_i from
/// DBL_MIN (a NaN ratio never replaces the maximum, as GSL's GSL_MAX_DBL), then with S = 0.9 and
/// the stepper's order q: r > 1.1 → h · max(S r^(−1/q), 0.2), decreased; r < 0.5 → h ·
/// min(max(S r^(−1/(q+1)), 1), 5), increased; else unchanged. The maximum of the ratios does not
/// depend on the order in which they are taken.
struct StandardControl {
    var epsAbs = 0.0, epsRel = 0.0, aY = 0.0, aDydt = 0.0

    static let name: StaticString = "rf-standard"

    /// The control type, at a stable address (GSL keeps a pointer to it).
    nonisolated(unsafe) static let type: UnsafeMutablePointer<gsl_odeiv2_control_type> = {
        let t = UnsafeMutablePointer<gsl_odeiv2_control_type>.allocate(capacity: 1)
        t.initialize(to: gsl_odeiv2_control_type(
            name: UnsafeRawPointer(name.utf8Start).assumingMemoryBound(to: CChar.self),
            alloc: {
                let s = UnsafeMutablePointer<StandardControl>.allocate(capacity: 1)
                s.initialize(to: StandardControl())
                return UnsafeMutableRawPointer(s)
            },
            init: { state, epsAbs, epsRel, aY, aDydt in
                guard epsAbs >= 0, epsRel >= 0, aY >= 0, aDydt >= 0 else { return Int32(GSL_EINVAL) }
                state!.assumingMemoryBound(to: StandardControl.self).pointee =
                    StandardControl(epsAbs: epsAbs, epsRel: epsRel, aY: aY, aDydt: aDydt)
                return Int32(GSL_SUCCESS)
            },
            hadjust: { state, dim, ord, y, yerr, yp, h in
                state!.assumingMemoryBound(to: StandardControl.self).pointee.adjust(
                    dim: Int(dim), order: ord, y: y!, yerr: yerr!, yp: yp!, h: h!)
            },
            errlevel: { state, y, dydt, h, _, errlev in
                let c = state!.assumingMemoryBound(to: StandardControl.self).pointee
                errlev!.pointee = c.epsRel * (c.aY * abs(y) + c.aDydt * abs(h * dydt)) + c.epsAbs
                // GSL reports a level ≤ 0 through its error handler (off: `GSLRuntime.prepare`) and
                // returns 0 all the same (GSL_ERROR_NULL).
                if errlev!.pointee <= 0 { gsl_error("errlev <= zero", #fileID, Int32(#line), Int32(GSL_ESANITY)) }
                return Int32(GSL_SUCCESS)
            },
            set_driver: { _, _ in Int32(GSL_SUCCESS) },
            free: { state in state?.deallocate() }))
        return t
    }()

    func adjust(dim: Int, order: UInt32, y: UnsafePointer<Double>, yerr: UnsafePointer<Double>, yp: UnsafePointer<Double>,
                h: UnsafeMutablePointer<Double>) -> Int32 {
        let hOld = h.pointee
        let magnitude = SIMD4<UInt64>(repeating: 0x7FFF_FFFF_FFFF_FFFF)
        @inline(__always) func fabs(_ v: SIMD4<Double>) -> SIMD4<Double> {
            unsafeBitCast(unsafeBitCast(v, to: SIMD4<UInt64>.self) & magnitude, to: SIMD4<Double>.self)
        }
        let er = SIMD4(repeating: epsRel), ea = SIMD4(repeating: epsAbs), ay = SIMD4(repeating: aY), ad = SIMD4(repeating: aDydt)
        let hv = SIMD4(repeating: hOld)
        var lanes = SIMD4(repeating: Double.leastNormalMagnitude)   // DBL_MIN
        var i = 0
        while i + 4 <= dim {
            let yv = UnsafeRawPointer(y + i).loadUnaligned(as: SIMD4<Double>.self)
            let ev = UnsafeRawPointer(yerr + i).loadUnaligned(as: SIMD4<Double>.self)
            let pv = UnsafeRawPointer(yp + i).loadUnaligned(as: SIMD4<Double>.self)
            let d0 = er * (ay * fabs(yv) + ad * fabs(hv * pv)) + ea
            let r = fabs(ev) / fabs(d0)
            lanes.replace(with: r, where: r .> lanes)
            i += 4
        }
        var rmax = Double.leastNormalMagnitude
        for k in 0..<4 where lanes[k] > rmax { rmax = lanes[k] }
        while i < dim {
            let d0 = epsRel * (aY * abs(y[i]) + aDydt * abs(hOld * yp[i])) + epsAbs
            let r = abs(yerr[i]) / abs(d0)
            if r > rmax { rmax = r }
            i += 1
        }
        let S = 0.9
        if rmax > 1.1 {
            var r = S / pow(rmax, 1.0 / Double(order))
            if r < 0.2 { r = 0.2 }
            h.pointee = r * hOld
            return Int32(GSL_ODEIV_HADJ_DEC)
        } else if rmax < 0.5 {
            var r = S / pow(rmax, 1.0 / (Double(order) + 1.0))
            if r > 5.0 { r = 5.0 }
            if r < 1.0 { r = 1.0 }
            h.pointee = r * hOld
            return Int32(GSL_ODEIV_HADJ_INC)
        }
        return Int32(GSL_ODEIV_HADJ_NIL)
    }
}

/// One GSL `odeiv2` driver (stepper + standard control + evolve) over a `ModeLockedSystem`.
/// The system struct lives at a stable address because GSL keeps a pointer to it.
final class GSLIntegrator {
    let stepper: Stepper
    let field: any ModeLockedSystem
    private let box: SystemBox
    private let system: UnsafeMutablePointer<gsl_odeiv2_system>
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
        system = .allocate(capacity: 1)
        system.initialize(to: gsl_odeiv2_system(
            function: fieldFunction, jacobian: fieldJacobian, dimension: field.dimension,
            params: Unmanaged.passUnretained(box).toOpaque()))
        guard let d = gsl_odeiv2_driver_alloc_y_new(system, stepper.gslType, hstart, atol, rtol) else {
            fatalError("gsl_odeiv2_driver_alloc_y_new failed")
        }
        driver = d
        yerr = .allocate(capacity: field.dimension)
        // `StandardControl` in place of the driver's own (the same control; see there).
        if let c = gsl_odeiv2_control_alloc(StandardControl.type) {
            if gsl_odeiv2_control_init(c, atol, rtol, 1, 0) == GSL_SUCCESS && gsl_odeiv2_control_set_driver(c, d) == GSL_SUCCESS {
                gsl_odeiv2_control_free(d.pointee.c)
                d.pointee.c = c
            } else {
                gsl_odeiv2_control_free(c)
            }
        }
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
        let canUse = driver.pointee.s.pointee.type.pointee.can_use_dydt_in != 0
        return gsl_odeiv2_step_apply(driver.pointee.s, t, h, y, yerr, canUse ? dydtIn : nil, nil, system)
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
