import ArgumentParser
import ReluFlow

/// A whole-number option that also takes the exponent form (`--samples 1e7`), so that a large
/// count reaches validation and the size check rather than a parse error.
struct WholeNumber: ExpressibleByArgument {
    let value: Int

    init?(argument: String) {
        if let v = Int(argument) {
            value = v
        } else if let d = Double(argument), d.isFinite, d.rounded() == d, abs(d) < 9e18 {
            value = Int(d)
        } else {
            return nil
        }
    }
}

extension FlowConfig {
    /// The work budget of `--max-rhs-evaluations` and `--max-wall-seconds` (simulate, compare),
    /// checked under the flags' names.
    mutating func applyBudget(maxRhsEvaluations: WholeNumber?, maxWallSeconds: Double?) throws {
        if let maxRhsEvaluations {
            guard maxRhsEvaluations.value >= 1 else { throw InputError("--max-rhs-evaluations", "must be a whole number ≥ 1 (got \(maxRhsEvaluations.value))") }
            self.maxRhsEvaluations = maxRhsEvaluations.value
        }
        if let maxWallSeconds {
            guard maxWallSeconds.isFinite, maxWallSeconds > 0 else { throw InputError("--max-wall-seconds", "must be a finite number of seconds > 0 (got \(maxWallSeconds))") }
            self.maxWallSeconds = maxWallSeconds
        }
    }
}
