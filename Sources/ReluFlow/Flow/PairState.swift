/// State of a (neuron, point) pair, SPEC §2.
public enum PairState: UInt8, Sendable, Codable {
    /// z_ij < 0.
    case off = 0
    /// z_ij > 0.
    case on = 1
    /// z_ij = 0 held by the flow (Filippov sliding, SPEC §4).
    case sliding = 2

    /// One-character code used in `patterns.csv`: `+` on, `-` off, `0` sliding.
    public var symbol: Character {
        switch self {
        case .on: return "+"
        case .off: return "-"
        case .sliding: return "0"
        }
    }

    /// The state of a `symbol`, or nil.
    public init?(symbol: Character) {
        switch symbol {
        case "+": self = .on
        case "-": self = .off
        case "0": self = .sliding
        default: return nil
        }
    }

    public var name: String {
        switch self {
        case .on: return "on"
        case .off: return "off"
        case .sliding: return "sliding"
        }
    }
}

/// A 128-bit key of a pattern (any array of states): the wrapping sum, over the pairs that are
/// not off, of two SplitMix64 hashes of (index, state). Equal patterns have equal keys; two
/// different patterns share one with probability about 2⁻¹²⁸, so a run of a million patterns
/// confuses two with probability below 1e-26. Keys stand in for the patterns themselves, whose
/// storage would grow as n·m per pattern.
struct PatternKey: Hashable {
    var low: UInt64 = 0
    var high: UInt64 = 0

    init(_ states: [PairState]) {
        for (q, s) in states.enumerated() where s != .off { add(q, s, sign: 1) }
    }

    /// The key after pair q changes from `old` to `new`, in O(1).
    mutating func replace(_ q: Int, _ old: PairState, _ new: PairState) {
        if old != .off { add(q, old, sign: -1) }
        if new != .off { add(q, new, sign: 1) }
    }

    private mutating func add(_ q: Int, _ s: PairState, sign: Int) {
        let x = UInt64(q) &* 3 &+ UInt64(s.rawValue)
        let a = PatternKey.mix(x), b = PatternKey.mix(x ^ 0x5851_F42D_4C95_7F2D)
        if sign > 0 { low = low &+ a; high = high &+ b } else { low = low &- a; high = high &- b }
    }

    /// SplitMix64's finaliser.
    private static func mix(_ value: UInt64) -> UInt64 {
        var z = value &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
