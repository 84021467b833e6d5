import ArgumentParser

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
