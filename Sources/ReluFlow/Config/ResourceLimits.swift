import Foundation

/// Limits on the memory a run needs and the bytes its run folder takes, checked by
/// `RunConfig.resolve(limits:)` from the sizes in the config before any data is generated or read
/// and before anything runs (`reluflow simulate` refuses what exceeds them unless given
/// `--allow-large`).
public struct ResourceLimits: Sendable, Equatable {
    /// Bytes of memory a run may need.
    public var memory: Double
    /// What `memory` is, in words, for messages ("half of the 24 GB of physical memory").
    public var memoryNote: String
    /// Bytes the run folder may take.
    public var output: Double
    /// How to lift the limits, for messages ("pass --allow-large to run anyway").
    public var lift: String

    public init(memory: Double, memoryNote: String = "", output: Double, lift: String = "") {
        self.memory = memory
        self.memoryNote = memoryNote
        self.output = output
        self.lift = lift
    }

    /// Memory: half of the physical memory (the rest for the system and other programs);
    /// output: 2 GB.
    public static func standard(lift: String = "pass --allow-large to run anyway") -> ResourceLimits {
        let physical = physicalMemory
        return ResourceLimits(memory: physical / 2, memoryNote: "half of the \(ResourceEstimate.text(physical)) of physical memory",
                              output: 2e9, lift: lift)
    }

    /// Physical memory of this machine in bytes (sysconf), or 8 GB if it cannot be read.
    public static var physicalMemory: Double {
        let pages = sysconf(Int32(_SC_PHYS_PAGES)), size = sysconf(Int32(_SC_PAGESIZE))
        return pages > 0 && size > 0 ? Double(pages) * Double(size) : 8e9
    }
}

/// What a run of a config needs, estimated from its sizes alone: m points of dimension d, width n,
/// P parameters, the sample count and the stepper. The per-point and per-pair figures were
/// measured (peak resident memory of `reluflow simulate` with the rk8pd stepper at m = 10⁶,
/// n = 1 … 40, d = 1, 3: about 540 bytes per point at d = 1 plus 125 per further coordinate —
/// the data, its copies in the config and the resolved config, and the JSON text of config.json;
/// explicit data read from JSON about 95 bytes more a number — and 75–104 bytes per (neuron, point) pair: the field's per-pair arrays (states, slopes, α,
/// the solver's z and ż), the patterns, the checkpoint), with margin. The implicit steppers hold
/// (P+1)×(P+1) matrices in GSL (measured at P = 1 500: msbdf 2 of them, rk4imp 5 — its 2-stage
/// Newton matrix is 4 — bsimp, rk1imp and rk2imp 2), their event locator's one-step companion
/// its own (msbdf's is rk4imp), and the field one P×P Hessian and G×P Jacobian rows; `auto`
/// switches to msbdf when the flow turns stiff, so it counts msbdf's.
public struct ResourceEstimate: Sendable {
    public let points: Int, dimension: Int, width: Int, parameters: Int, samples: Int
    public let stepper: Stepper
    /// The config field the data size comes from: `data.x`, `data.csv` or `data.target.m`.
    public let dataField: String
    /// Bytes of the CSV file read, if any (held while it is parsed).
    public let csvBytes: Double
    /// The config field the sample count comes from (`flow.samples.count`, or `train.samples.count`).
    public var samplesField = "flow.samples.count"
    /// The field that sets the width in messages (`network.layers` for a deep network).
    public var widthField = "network.width"

    /// `parameters`: P when it is not the shallow network's n(d + 2) (+ 1): a deep network's, whose
    /// `width` is then its number of hidden units (the pattern's rows).
    public init(points: Int, dimension: Int, width: Int, outputBias: Bool = false, samples: Int, stepper: Stepper,
                dataField: String, csvBytes: Double = 0, parameters: Int? = nil) {
        self.points = max(points, 1)
        self.dimension = max(dimension, 1)
        self.width = max(width, 1)
        self.parameters = parameters ?? self.width * (self.dimension + 2) + (outputBias ? 1 : 0)
        self.samples = max(samples, 2)
        self.stepper = stepper
        self.dataField = dataField
        self.csvBytes = csvBytes
    }

    var m: Double { Double(points) }
    var d: Double { Double(dimension) }
    var n: Double { Double(width) }
    var P: Double { Double(parameters) }

    // MARK: Memory

    /// The process itself (runtime, Foundation, GSL).
    static let baseMemory = 40e6
    /// Per point; explicit data also went through JSONSerialization's object tree and the decoder
    /// (measured: 95 bytes more a number at m = 10⁶, d = 3); a CSV is held as bytes and text while parsed.
    var pointMemory: Double { m * (420 + 130 * d) + (dataField == "data.x" ? m * (d + 1) * 100 : 0) + 4 * csvBytes }
    var pairMemory: Double { n * m * 110 }
    /// Vectors of length P: the state, stages of the steppers, the locator's and batcher's copies.
    var parameterMemory: Double { P * 8 * 64 + Double(samples) * 16 }

    /// (P+1)×(P+1) matrices the stepper and its event companion hold, plus the field's Hessian.
    var matrixCount: Double {
        switch stepper {
        case .auto, .msbdf: return 2 + 5 + 1
        case .rk4imp: return 5 + 5 + 1
        case .bsimp, .rk1imp, .rk2imp: return 2 + 2 + 1
        case .rk2, .rk4, .rkf45, .rkck, .rk8pd, .msadams: return 0
        }
    }
    var matrixMemory: Double {
        matrixCount == 0 ? 0 : matrixCount * (P + 1) * (P + 1) * 8 + m * P * 8
    }

    public var memory: Double { Self.baseMemory + pointMemory + pairMemory + parameterMemory + matrixMemory }

    // MARK: Output

    /// Bytes of one trajectory row in trajectory.csv (measured: 19.7 characters a number, comma
    /// included, over 10⁵ rows of `sine`; 20 here) and trajectory.npy (8 a number).
    var rowBytes: Double { (P + 5) * 28 }
    /// trajectory.csv and .npy for the sample grid (each event adds a row too: not counted, unknown here).
    var trajectoryOutput: Double { Double(samples) * rowBytes }
    /// config.json (the data written out, about 32 bytes a number) and data.csv (about 22).
    var pointOutput: Double { m * (d + 1) * 54 + m * 24 }
    /// patterns.csv's first row (the pairs that start active), checkpoint.json's pattern, and
    /// pattern_matrices.npy (written up to `RunExport.patternMatrixLimit` bytes).
    var pairOutput: Double {
        n * m * 9 + (n * m <= Double(RunExport.patternMatrixLimit) ? Double(RunExport.patternMatrixLimit) : 0)
    }
    public var output: Double { trajectoryOutput + pointOutput + pairOutput + P * 100 }

    // MARK: Check

    /// Throws an `InputError` naming the field that drives the larger need when the estimate
    /// exceeds a limit.
    public func check(_ limits: ResourceLimits) throws {
        let lift = limits.lift.isEmpty ? "" : "; \(limits.lift)"
        if memory > limits.memory {
            let note = limits.memoryNote.isEmpty ? "" : ", \(limits.memoryNote)"
            let (field, what) = memoryDriver
            var problem = "\(what) would need about \(Self.text(memory)) of memory (limit \(Self.text(limits.memory))\(note))"
            if matrixMemory > memory / 2 {
                problem += "; \(Self.text(matrixMemory)) of it for the P×P matrices of the implicit stepper "
                    + (stepper == .auto ? "that auto switches to when the flow turns stiff (msbdf)" : stepper.rawValue)
                    + ", which an explicit stepper (--stepper rk8pd) does not need"
            }
            throw InputError(field, problem + lift)
        }
        if output > limits.output {
            let (field, what) = outputDriver
            throw InputError(field, "\(what) would need about \(Self.text(output)) of disk in the run folder "
                             + "(limit \(Self.text(limits.output)))\(lift)")
        }
    }

    private var pointsText: String { "\(points) points" + (dimension > 1 ? " of dimension \(dimension)" : "") }
    private var widthText: String { "width \(width) (P = \(parameters) parameters)" }

    /// The field behind the largest part of the memory estimate, and its sizes in words.
    var memoryDriver: (String, String) {
        let parts = [pointMemory, pairMemory, matrixMemory, parameterMemory]
        switch parts.indices.max(by: { parts[$0] < parts[$1] })! {
        case 0: return (dataField, pointsText)
        case 1: return m >= n ? (dataField, "\(pointsText) × width \(width)") : (widthField, "width \(width) × \(points) points")
        case 2: return (widthField, widthText)
        default:
            return Double(samples) * 16 > P * 8 * 64 ? (samplesField, "\(samples) samples") : (widthField, widthText)
        }
    }

    /// The field behind the largest part of the output estimate, and its sizes in words.
    var outputDriver: (String, String) {
        let parts = [trajectoryOutput, pointOutput, pairOutput]
        switch parts.indices.max(by: { parts[$0] < parts[$1] })! {
        case 0:
            return (samplesField, "\(samples) samples of \(parameters + 5) columns (trajectory.csv and .npy; "
                    + "each event adds a row)")
        case 1: return (dataField, "\(pointsText) (config.json and data.csv)")
        default:
            return m >= n ? (dataField, "\(pointsText) × width \(width) (patterns)") : (widthField, "width \(width) × \(points) points (patterns)")
        }
    }

    /// Bytes in decimal units: "812 MB", "1.6 TB".
    public static func text(_ bytes: Double) -> String {
        let units: [(Double, String)] = [(1e12, "TB"), (1e9, "GB"), (1e6, "MB"), (1e3, "kB")]
        for (size, unit) in units where bytes >= size {
            return NumberText.printf(bytes / size, "g", precision: 3) + " " + unit
        }
        return NumberText.printf(bytes, "f", precision: 0) + " bytes"
    }
}
