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
