import ArgumentParser
import Foundation
import ReluFlow

/// The plateau thresholds of SPEC §6, shared by `analyze` and `plot`.
struct PlateauOptions: ParsableArguments {
    // `.unconditional`: a negative value reaches the check below (and its message) instead of
    // being read as an unknown option.
    @Option(parsing: .unconditional, help: "Plateau flatness threshold ε: a time is flat when |d log L / d log t| < ε (SPEC §6).")
    var epsilon: Double = 0.05

    @Option(parsing: .unconditional, help: "Plateau length factor κ: a flat interval is a plateau when it lasts at least κ/ρ_H, ρ_H the Hessian's spectral radius at its start (time units of the flow).")
    var kappa: Double = 2

    /// The criteria, or an InputError (exit 2) naming the bad option.
    func criteria() throws -> PlateauCriteria {
        guard epsilon > 0, epsilon.isFinite else { throw InputError("--epsilon", "must be a positive number") }
        guard kappa >= 0, kappa.isFinite else { throw InputError("--kappa", "must be a non-negative number") }
        return PlateauCriteria(epsilon: epsilon, kappa: kappa)
    }
}

/// Fails with exit 2 (naming DIR) unless `folder` is an existing folder.
func requireFolder(_ folder: String) throws {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else {
        throw InputError("DIR", "\(folder) is not a folder")
    }
}
