/// The discrete training methods of SPEC §7.
public enum TrainingMethod: String, Codable, Sendable, CaseIterable {
    case gd, sgd, adam, rmsprop, anls

    public static var names: String { allCases.map(\.rawValue).joined(separator: ", ") }

    /// Time of iteration k: k·η for the gradient methods (so that they can be drawn against the
    /// flow, GD being its Euler discretisation), k for ANLS.
    func time(iteration k: Int, lr: Double) -> Double { self == .anls ? Double(k) : Double(k) * lr }
}

/// Options of a training run (the config's `train` section, resolved).
public struct TrainingOptions: Sendable, Equatable {
    public var method: TrainingMethod = .gd
    /// Learning rate η (ANLS: the first trial step of its halving line search, at most 1).
    public var lr: Double = 0.01
    public var iterations: Int = 10_000
    /// Minibatch size B (nil: all points). `sgd` draws each epoch's order from `seed`.
    public var batch: Int? = nil
    public var seed: UInt64 = 0
    /// Adam's β₁, β₂ and RMSProp's α; ε of both.
    public var beta1 = 0.9
    public var beta2 = 0.999
    public var alpha = 0.99
    public var epsilon = 1e-8
    /// RMSProp's v_0: 0 as SPEC §7 defines the method (false), or g_0² (true), the RMSProp flow's
    /// v(0) = g(θ(0))² (library only: the η → 0 comparison with the flow starts both alike; with
    /// v_0 = 0 the first steps are of size ≈ √(ητ) instead of η, and the iterates follow the flow
    /// from v(0) = 0, whose θ' ~ −sign(g)√(τ/t) is singular at t = 0).
    public var rmspropSquaredGradientStart = false
    /// Sample grid over the iterations (iterations with a pattern change are always added).
    public var sampleSpacing: SampleSpacing = .log
    public var sampleCount = 400
    /// Escape from the initial plateau: the first iterate with L ≤ (1 − δ) L(0) (SPEC §7).
    public var escapeDelta = 0.1
    /// ANLS (SPEC §7): ridge λ of the outer least squares, the number of nearest inactive points
    /// added to a neuron's active set (per side of the knot in d = 1, in all in d > 1), and the
    /// relative loss decrease below which it stops.
    public var anlsRidge = 1e-10
    public var anlsEnlarge = 1
    public var anlsTolerance = 1e-12
    /// Explicit minibatches, one per iteration (cycled), instead of the seeded epochs: to replay
    /// another program's order (the NumPy reference's) exactly.
    public var batchSchedule: [[Int]]? = nil

    public init() {}

    /// A run diverges when its loss is not finite or exceeds this multiple of L(0).
    public static let divergenceFactor = 1e6

    /// The sample grid: iteration 0, then `sampleCount − 1` iterations up to K (log: geometric
    /// from 1; duplicates dropped).
    public var sampleIterations: [Int] {
        let K = iterations, count = max(sampleCount, 2)
        var set = Set([0, K])
        switch sampleSpacing {
        case .linear:
            for s in 0..<count { set.insert(Int((Double(K) * Double(s) / Double(count - 1)).rounded())) }
        case .log:
            let hi = log10(Double(max(K, 1)))
            for s in 0..<(count - 1) { set.insert(Int(pow(10, hi * Double(s) / Double(max(count - 2, 1))).rounded())) }
        }
        return set.filter { $0 >= 0 && $0 <= K }.sorted()
    }
}

import Foundation
