import Foundation

/// `reluflow simulate` as one library call, in the calling process: the config resolved and its
/// size checked, the output path checked (`RunFolder.checkDestination`: never a folder the
/// toolkit did not write), the flow solved with its records streamed into the staging folder
/// (`RunStream`), and the finished folder renamed into place. Programs that run many small
/// problems (a sweep, a notebook's loop over seeds) pay no process start, dynamic loading or
/// argument parsing per run.
///
/// `hooks.recorder` is ignored (the run folder is the recorder). The solution returned holds the
/// diagnostics and final state; its records are in the folder. A `failed` or `interrupted`
/// solution still has its folder written, as the command writes it. A config with a `train`
/// section or `flow.segments` (a resumed run) is refused: the `train` command and `--resume` do
/// those.
@discardableResult
public func simulate(_ config: RunConfig, to path: String, limits: ResourceLimits? = .standard(),
                     hooks: SolveHooks = SolveHooks()) throws -> FlowSolution {
    guard config.train == nil else {
        throw InputError("train", "the config has a train section: it is a training run, not a flow")
    }
    let (problem, resolved) = try config.resolve(limits: limits)
    if let segments = resolved.flow.segments, !segments.isEmpty {
        throw InputError("flow.segments", "a resumed run is repeated part by part by `reluflow simulate --config`, not by this call")
    }
    try RunFolder.checkDestination(path)
    let stream = try RunStream(path: path, problem: problem)
    stream.config = resolved
    var streamed = hooks
    streamed.recorder = stream
    let solution = solve(problem, hooks: streamed)
    try stream.finish(solution, config: resolved)
    return solution
}
