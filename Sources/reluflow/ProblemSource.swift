import ReluFlow

/// The problem of simulate, train and compare: the config file, or the built-in example (the
/// default one when neither is given), and the name their default output folder takes.
func loadProblem(config: String?, example: String?) throws -> (config: RunConfig, name: String) {
    if config != nil && example != nil { throw InputError("--config", "give either --config or --example, not both") }
    if let path = config {
        return (try RunConfig.load(path: path), ((path as NSString).lastPathComponent as NSString).deletingPathExtension)
    }
    let chosen = try Example.named(example ?? Example.defaultName)
    return (chosen.config, chosen.name)
}

import Foundation
