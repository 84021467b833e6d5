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

    public var name: String {
        switch self {
        case .on: return "on"
        case .off: return "off"
        case .sliding: return "sliding"
        }
    }
}
