import Foundation
import XCTest
@testable import ReluFlow

/// A seeded generator (SplitMix64), so that a failure of a randomised test can be reproduced.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E3779B97F4A7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58476D1CE4E5B9
        z = (z ^ (z >> 27)) &* 0x94D049BB133111EB
        return z ^ (z >> 31)
    }
}

/// Builds a problem from explicit data and parameters.
func makeProblem(x: [[Double]], y: [Double], W: [[Double]], b: [Double], c: [Double], c0: Double? = nil,
                 T: Double, rtol: Double = 1e-10, atol: Double = 1e-12, stepper: Stepper = .rk8pd,
                 samples: Int = 50) throws -> FlowProblem {
    let config = RunConfig(
        data: DataConfig(x: x, y: y),
        network: NetworkConfig(outputBias: c0 != nil, W: W, b: b, c: c, c0: c0),
        flow: FlowConfig(T: T, rtol: rtol, atol: atol, stepper: stepper.rawValue, samples: SampleConfig(spacing: "linear", count: samples)))
    return try config.resolve().problem
}

/// A built-in example with overrides.
func exampleProblem(_ name: String, T: Double, stepper: Stepper = .auto, rtol: Double = 1e-10, atol: Double = 1e-12) throws -> FlowProblem {
    var config = try Example.named(name).config
    config.flow.T = T
    config.flow.rtol = rtol
    config.flow.atol = atol
    config.flow.stepper = stepper.rawValue
    config.flow.samples = SampleConfig(spacing: "log", count: 60)
    return try config.resolve().problem
}

/// The sample recorded at time t (events record one).
func sample(at t: Double, in solution: FlowSolution) -> FlowSample? {
    solution.samples.first { $0.t == t }
}

/// Path of the built `reluflow` executable (next to the test bundle).
func reluflowExecutable() -> URL {
    var dir = Bundle.main.bundleURL
    for _ in 0..<3 {
        let candidate = dir.appendingPathComponent("reluflow")
        if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        dir = dir.deletingLastPathComponent()
    }
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    return root.appendingPathComponent(".build/debug/reluflow")
}

struct CommandResult {
    let status: Int32
    let stdout: String
    let stderr: String
}

/// Runs `reluflow` with arguments in a directory (with `environment` added to this process's).
func runReluflow(_ arguments: [String], in directory: URL, environment: [String: String] = [:]) throws -> CommandResult {
    try runProgram(reluflowExecutable(), arguments, in: directory, environment: environment)
}

/// Runs `/bin/sh -c script` in a directory (a test that must set the stage in the same process,
/// such as its pid, before it execs reluflow).
func runShell(_ script: String, in directory: URL) throws -> CommandResult {
    try runProgram(URL(fileURLWithPath: "/bin/sh"), ["-c", script], in: directory)
}

/// Runs a program with arguments in a directory, its stdout and stderr collected.
func runProgram(_ executable: URL, _ arguments: [String], in directory: URL, environment: [String: String] = [:]) throws -> CommandResult {
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    process.currentDirectoryURL = directory
    if !environment.isEmpty {
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
    }
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    let errData = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return CommandResult(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                         stderr: String(decoding: errData, as: UTF8.self))
}

func temporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("reluflow-test-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// Skips the calling test unless `python3` imports `modules` (for example "numpy" or "numpy, scipy").
func requirePython(_ modules: String) throws {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = ["python3", "-c", "import \(modules)"]
    p.standardOutput = FileHandle.nullDevice
    p.standardError = FileHandle.nullDevice
    guard (try? p.run()) != nil else { throw XCTSkip("python3 not available") }
    p.waitUntilExit()
    guard p.terminationStatus == 0 else { throw XCTSkip("python3 without \(modules)") }
}
