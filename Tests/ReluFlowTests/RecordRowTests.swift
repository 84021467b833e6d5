import XCTest
@testable import ReluFlow

/// `RecordFormat.appendNPY` writes a sample's trajectory.npy row directly (issue 22); its bytes
/// must be exactly those of the general path, `NPYLayout.append(values(sample))`, for the flow,
/// a training run (iteration column), an adaptive flow (auxiliary columns) and a network wide
/// enough that the file is a float64 matrix instead of records.
final class RecordRowTests: XCTestCase {
    func testDirectSampleRowIsTheGeneralRow() {
        let cases: [(width: Int, iterations: Bool, kind: FlowKind)] = [
            (3, false, .gradient), (3, true, .gradient), (4, false, .adam(AdamFlow())), (5, false, .rmsprop(RMSPropFlow())), (400, false, .gradient), (400, true, .gradient),
        ]
        var rng = SplitMix(state: 5)
        for c in cases {
            let network = ShallowNetwork(width: c.width, inputDimension: 1)
            let format = RecordFormat(network: network, iterations: c.iterations, kind: c.kind)
            let layout = format.trajectoryNPY
            let auxiliaryCount = c.kind.law?.auxiliaryNames(parameterNames: network.parameterNames).count ?? 0
            for k in 0..<5 {
                let sample = FlowSample(t: Double(k) * 0.37, loss: Double(bitPattern: rng.next()), gradNorm: 1e-300, patternId: k * 1_000_003 - 7,
                                        theta: (0..<network.parameterCount).map { _ in Double(bitPattern: rng.next()) },
                                        dissipated: -0.0, iteration: c.iterations ? k * 7 : nil,
                                        auxiliary: (0..<auxiliaryCount).map { _ in Double.random(in: -1...1, using: &rng) })
                var general: [UInt8] = [], direct: [UInt8] = []
                layout.append(format.values(sample), to: &general)
                format.appendNPY(sample, layout: layout, to: &direct)
                XCTAssertEqual(direct, general, "width \(c.width), iterations \(c.iterations), \(c.kind), sample \(k)")
                XCTAssertEqual(direct.count, layout.rowSize)
            }
            if c.width == 400 { XCTAssertTrue(layout.asMatrix, "the wide case must exercise the matrix layout") }
        }
    }
}
