import Foundation

/// Bad input: a config field, a command-line option or a file that cannot be used.
/// The command line turns it into exit status 2 with `field: problem` on stderr.
public struct InputError: Error, CustomStringConvertible, Equatable {
    /// The offending field as a user would write it, e.g. `data.x[3][0]` or `--T`.
    public let field: String
    /// What is wrong with it, in words.
    public let problem: String

    public init(_ field: String, _ problem: String) {
        self.field = field
        self.problem = problem
    }

    public var description: String { "\(field): \(problem)" }
}

/// A numerical routine reported failure (a LAPACK `info` ≠ 0, a GSL status other than success,
/// or input it cannot use): its result would be wrong, so the computation stops with this
/// diagnosis instead of printing a number. The command line turns it into exit status 1
/// (`reluflow: numerical failure: …`); in the flow engine it fails the run with this message.
public struct NumericalError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The routine, e.g. `LAPACK dgelsd` or `GSL gsl_eigen_symm`.
    public let routine: String
    /// What went wrong, with the problem's size.
    public let problem: String

    public init(_ routine: String, _ problem: String) {
        self.routine = routine
        self.problem = problem
    }

    public var description: String { "\(routine): \(problem)" }
}

import CGSL

/// GSL aborts the process on errors unless told otherwise; ReluFlow checks every
/// status itself. Called once by every entry point that touches GSL.
public enum GSLRuntime {
    private static let installed: Bool = {
        gsl_set_error_handler_off()
        return true
    }()

    public static func prepare() { _ = installed }
}

extension NumericalError {
    /// The error for a GSL status other than `GSL_SUCCESS`, nil on success.
    static func gsl(_ status: Int32, _ routine: String, _ what: String) -> NumericalError? {
        guard status != GSL_SUCCESS else { return nil }
        return NumericalError("GSL \(routine)", "\(String(cString: gsl_strerror(status))) (status \(status)) on \(what)")
    }
}
