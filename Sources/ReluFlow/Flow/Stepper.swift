@preconcurrency import CGSL
import CFieldKernels

/// The GSL `odeiv2` steppers ReluFlow offers by name, plus `auto`.
public enum Stepper: String, Codable, Sendable, CaseIterable {
    case auto
    case rk2, rk4, rkf45, rkck, rk8pd
    case rk1imp, rk2imp, rk4imp, bsimp
    case msadams, msbdf

    /// Equality and hashing by case: a String-valued enum's defaults go through the name, and the
    /// driver looks the active stepper up several times a step (`StepperController`'s tallies).
    public static func == (a: Stepper, b: Stepper) -> Bool { a.ordinal == b.ordinal }
    public func hash(into hasher: inout Hasher) { hasher.combine(ordinal) }
    /// The case's position in `allCases` (tallies kept in arrays, `StepperController`).
    var ordinal: Int {
        switch self {
        case .auto: return 0
        case .rk2: return 1
        case .rk4: return 2
        case .rkf45: return 3
        case .rkck: return 4
        case .rk8pd: return 5
        case .rk1imp: return 6
        case .rk2imp: return 7
        case .rk4imp: return 8
        case .bsimp: return 9
        case .msadams: return 10
        case .msbdf: return 11
        }
    }

    /// The stepper `auto` starts with (rk8pd); `StepperPolicy` switches it to msbdf when the flow
    /// turns stiff and back after events.
    public var resolved: Stepper { self == .auto ? .rk8pd : self }

    /// Steppers that call the analytic Jacobian (SPEC §3).
    public var usesJacobian: Bool {
        switch resolved {
        case .rk1imp, .rk2imp, .rk4imp, .bsimp, .msbdf: return true
        default: return false
        }
    }

    /// Multistep methods keep a history: events re-locate with a one-step companion (see EventLocator).
    public var isMultistep: Bool { resolved == .msadams || resolved == .msbdf }

    /// The one-step stepper whose single steps re-take part of an accepted step when an event is
    /// located: the stepper itself, or for the multistep methods a one-step method of the same kind.
    var locatorCompanion: Stepper {
        switch resolved {
        case .msadams: return .rk8pd
        case .msbdf: return .rk4imp
        default: return resolved
        }
    }

    var gslType: UnsafePointer<gsl_odeiv2_step_type> {
        switch resolved {
        // RK8(7)13M with vectorised stage sums, bitwise GSL's rk8pd (CFieldKernels/rk87.h).
        case .auto, .rk8pd: return rf_rk8pd_type().assumingMemoryBound(to: gsl_odeiv2_step_type.self)
        case .rk2: return gsl_odeiv2_step_rk2
        case .rk4: return gsl_odeiv2_step_rk4
        case .rkf45: return gsl_odeiv2_step_rkf45
        case .rkck: return gsl_odeiv2_step_rkck
        case .rk1imp: return gsl_odeiv2_step_rk1imp
        case .rk2imp: return gsl_odeiv2_step_rk2imp
        case .rk4imp: return gsl_odeiv2_step_rk4imp
        case .bsimp: return gsl_odeiv2_step_bsimp
        case .msadams: return gsl_odeiv2_step_msadams
        case .msbdf: return gsl_odeiv2_step_msbdf
        }
    }

    public static var names: String { allCases.map(\.rawValue).joined(separator: ", ") }
}
