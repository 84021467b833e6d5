import XCTest
@testable import ReluFlow

/// A pair whose surface coincides with a sliding one (`AdaptiveField.besideSlide`) joins that slide
/// at the event that makes them coincide, and is no event of its own afterwards (SPEC §4: coincident
/// surfaces are one surface, one α, one event). The tester's
/// [2, 4, 4, 3, 1] without biases under RMSProp (τ = 2, ε = 1e-3): from t = 0.21162 (layer-1 unit 1
/// off at point 2) only layer-1 unit 0 is on at points 0 and 2, so unit 5's pre-activations there
/// are w_50 h_0 at both, and (5, 2) slides. z at point 0 followed w_50's rounding across 0 at a
/// time set by the step sequence: 9, 16, 17, 57 events for T = 0.2115, 0.2119, 0.25, 1 (events
/// before 0.25: 17 against 57), 11 for a run resumed at 0.212, with θ(1) the same to 3.6e-11.
final class CoincidentSlideEventTests: XCTestCase {
    static func problem(T: Double, kind: String = "rmsprop") throws -> FlowProblem {
        try RunConfig.decode(Data("""
        {"data": {"origin": {"target": {"dim": 2, "function": "sin(2*x0) + x1^2", "m": 8, "points": "random", "range": [-1, 1], "seed": 5}}, "x": [[-0.556013657245785, -0.8896397585049272], [0.7414646069519222, 0.662655679974705], [-0.5865616919472814, -0.2725262092426419], [0.8372218087315559, 0.9588899952359498], [-0.023177620023488887, -0.8203579317778348], [0.22348772315308452, -0.20652678702026595], [0.5318157202564182, -0.2917239144444467], [0.0368359824642539, -0.02672400325536728]], "y": [-0.10513941322458853, 1.435254718471418, -0.847694163317855, 1.91410344943186, 0.6266484958208609, 0.4748934118964074, 0.9592278785588387, 0.07431951221275916]}, "flow": {"T": \(T), "atol": 1e-14, "escapeDelta": 0.1, "kind": "\(kind)", "maxEvents": 1000000, "rtol": 1e-12, "stepper": "auto"\(kind == "rmsprop" ? ", \"tau\": 2, \"epsilon\": 0.001" : "")}, "network": {"activation": "relu", "bias": false, "init": {"scheme": "he", "seed": 6}, "layers": [2, 4, 4, 3, 1], "outputBias": false, "weights": [[[-1.0929538421043448, -0.12003448568701187], [-0.8580493760339123, 2.3553239560382577], [0.9282107518003674, -0.2181710633761489], [1.1288279890182125, 1.5606150543864608]], [[-0.4830250856456305, -1.1381573803473335, -0.8123950114962519, 0.9392001198323859], [-0.07911434416521647, 1.2224584882263214, 0.16796249465139831, -0.11828029175913014], [0.10843930247960955, -0.520284870609886, -0.3836773332736909, 0.5001785980906445], [-0.34258225443194723, 1.6501378083358764, -0.9616106780471452, 0.4099250179419753]], [[-0.23008404800320512, 0.011197610888681146, 0.5715418120679601, 0.8366089120054055], [1.1007421320297286, 0.6305398795077654, 0.7544420368098025, -0.5976507904036514], [1.0501217929899023, -0.4575320465280995, -0.16899930304534555, 1.1374832744306507]], [[0.6294476598855062, 1.145725359576421, -0.8116481974239863]]]}}
        """.utf8)).resolve().problem
    }

    static func rows(_ s: FlowSolution, before t: Double) -> [String] {
        s.events.filter { $0.t < t }.map { "\($0.neuron) \($0.point) \($0.kind) \($0.state)" }
    }

    /// The log before t = 0.25 is the same for T = 0.25 and T = 1 (the rows, not their times:
    /// a located time is known to the step's tolerance), and θ(0.25) agrees with the longer run's
    /// dense record within 1e-9 (rtol 1e-12 over different step sequences).
    func testEventsDoNotDependOnT() throws {
        for kind in ["rmsprop", "adam"] {
            let short = solve(try Self.problem(T: 0.25, kind: kind)), long = solve(try Self.problem(T: 1, kind: kind))
            XCTAssertEqual(short.status, .completed, "\(kind): \(short.message ?? "")")
            XCTAssertEqual(long.status, .completed, "\(kind): \(long.message ?? "")")
            XCTAssertEqual(Self.rows(short, before: 0.25), Self.rows(long, before: 0.25), kind)
        }
    }

    /// A run split at t = 0.212 (just after unit 5's coincidence begins) and resumed to T = 1 logs
    /// the uninterrupted run's events, and ends at its θ within 1e-9.
    func testResumedRunLogsTheSameEvents() throws {
        let whole = solve(try Self.problem(T: 1))
        let first = solve(try Self.problem(T: 0.212))
        var rest = try Self.problem(T: 1)
        rest.start = first.checkpoint
        let continued = solve(rest)
        XCTAssertEqual(continued.status, .completed, continued.message ?? "")
        XCTAssertEqual(Self.rows(first, before: 1) + Self.rows(continued, before: 1), Self.rows(whole, before: 1))
        let gap = zip(continued.finalTheta, whole.finalTheta).map { abs($0 - $1) }.max() ?? .nan
        XCTAssertLessThan(gap, 1e-9)
    }
}
