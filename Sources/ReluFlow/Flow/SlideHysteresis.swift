/// Anti-Zeno hysteresis of sliding pairs. Near an interpolating minimum a sliding pair's α can sit
/// at 0 or 1 within its rounding level while second-order effects decide the side: the pair then
/// leaves the surface and returns almost at once, over and over. The same happens at a stationary
/// state whose sliding pair has α = 1 (or 0) exactly: the one-sided field there equals the sliding
/// one, nothing moves, and rounding alone takes the pair off and back on, slowly. When a pair
/// re-enters sliding after an excursion shorter than `quickReturn` of the slide before it, or one
/// over which the loss did not change beyond rounding, its α band (`ModeField.alphaBandFactor`) is
/// widened `widening`× (the band itself is capped at 0.25 by `ModeField.alphaSlack`); any other
/// excursion or a crossing resets it. Every exit and entry is still logged as an event.
struct SlideHysteresis {
    static let quickReturn = 0.01
    static let widening = 4.0
    static let maximumFactor = 1e12

    /// Per pair (i·G + g): when its current or last slide began and ended, the loss at its last
    /// slide end, and that slide's duration.
    private var slideStart: [Int: Double] = [:]
    private var slideEnd: [Int: Double] = [:]
    private var slideEndLoss: [Int: Double] = [:]
    private var lastSlideDuration: [Int: Double] = [:]

    /// Updates the band factors (n×G) for the transitions of pairs `key(transition)` at t, where
    /// the loss is `loss`.
    mutating func update(_ transitions: [(key: Int, from: PairState, to: PairState)], at t: Double, loss: Double,
                         bandFactors: inout [Double]) {
        for tr in transitions {
            let key = tr.key
            switch (tr.from, tr.to) {
            case (.sliding, _):
                slideEnd[key] = t
                slideEndLoss[key] = loss
                lastSlideDuration[key] = t - (slideStart[key] ?? t)
            case (_, .sliding):
                let idle = slideEndLoss[key].map { abs($0 - loss) <= 64 * Double.ulpOfOne * max(abs(loss), abs($0)) } ?? false
                if let end = slideEnd[key], let duration = lastSlideDuration[key], t - end < Self.quickReturn * duration || idle {
                    bandFactors[key] = min(bandFactors[key] * Self.widening, Self.maximumFactor)
                } else {
                    bandFactors[key] = 1
                }
                slideStart[key] = t
            default:
                bandFactors[key] = 1
            }
        }
    }
}
