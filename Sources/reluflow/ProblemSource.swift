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

/// `compare` runs its flow on the shallow network only (the deep network's flow is `simulate`'s
/// in this version). Exit 2 naming the field, before anything runs.
func refuseDeepFlow(_ config: RunConfig, command: String) throws {
    guard config.network.layers != nil, let reason = FlowCapability.unsupported(.gradient, for: config) else { return }
    throw InputError("network.layers", "\(reason); \(command) needs a shallow network "
                     + "(network.width). Train the deep network with `reluflow train --method gd|sgd|adam|rmsprop`, compare the methods with "
                     + "`reluflow compare`, or measure its curvature with `reluflow curvature`")
}

/// An adaptive flow (SPEC §7) continues from its checkpoint's auxiliary state (m, v): a checkpoint
/// without it (or of another size) cannot continue the run. Exit 2 naming --resume.
func checkAdaptiveResume(_ problem: FlowProblem, _ checkpoint: FlowCheckpoint, folder: String) throws {
    guard let law = problem.options.kind.law else { return }
    let need = law.auxiliaryNames(parameterNames: problem.model.parameterNames).count
    guard checkpoint.auxiliary?.count == need else {
        throw InputError("--resume", "\(folder)/checkpoint.json has no \(law.name) state (m, v) of \(need) entries to continue the \(law.name) flow from")
    }
}

/// --seed for either kind of network.
func applySeed(_ seed: Int, to config: inout RunConfig) throws {
    guard seed >= 0 else { throw InputError("--seed", "must be ≥ 0 (got \(seed))") }
    if config.network.layers != nil {
        var spec = config.network.deepInitialization ?? DeepInitSpec()
        spec.seed = UInt64(seed)
        config.network.deepInitialization = spec
    } else {
        var spec = config.network.initialization ?? InitSpec()
        spec.seed = UInt64(seed)
        config.network.initialization = spec
    }
}
