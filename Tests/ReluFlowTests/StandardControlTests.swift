@preconcurrency import CGSL
import Foundation
import XCTest
@testable import ReluFlow

/// `StandardControl` (GSLIntegrator) against GSL's own `gsl_odeiv2_control_y_new` (and the standard
/// control with a_dydt > 0): bit for bit the same step size, the same decision, and the same error
/// levels (a NaN level a NaN), on random states, errors and derivatives with zeros, infinities and NaNs among them, for
/// dimensions 1 … 13 (whole lanes of four and remainders) and orders 2 … 8. Bitwise, not to a
/// tolerance: the control replaces GSL's only because every run keeps its steps exactly.
final class StandardControlTests: XCTestCase {
    func testHadjustAndErrlevelAreGSLsBitForBit() {
        GSLRuntime.prepare()
        var rng = SystemRandomNumberGenerator()
        let specials: [Double] = [0, -0.0, .infinity, -.infinity, .nan, 1e-300, 1e300]
        func value() -> Double {
            if Int.random(in: 0..<20, using: &rng) == 0 { return specials.randomElement(using: &rng)! }
            return Double.random(in: -1...1, using: &rng) * pow(10, Double.random(in: -12...3, using: &rng))
        }
        for (aY, aDydt) in [(1.0, 0.0), (1.0, 0.5), (0.3, 2.0)] {
            for trial in 0..<3000 {
                let dim = 1 + trial % 13
                let order = UInt32(2 + trial % 7)
                let epsAbs = pow(10, Double.random(in: -16 ... -4, using: &rng)), epsRel = pow(10, Double.random(in: -14 ... -2, using: &rng))
                let y = (0..<dim).map { _ in value() }, yerr = (0..<dim).map { _ in value() * 1e-8 }, yp = (0..<dim).map { _ in value() }
                let h0 = Double.random(in: 1e-6...10, using: &rng)
                let gsl = gsl_odeiv2_control_standard_new(epsAbs, epsRel, aY, aDydt)!
                let ours = gsl_odeiv2_control_alloc(StandardControl.type)!
                defer { gsl_odeiv2_control_free(gsl); gsl_odeiv2_control_free(ours) }
                XCTAssertEqual(gsl_odeiv2_control_init(ours, epsAbs, epsRel, aY, aDydt), Int32(GSL_SUCCESS))
                var hGSL = h0, hOurs = h0
                let sGSL = gsl.pointee.type.pointee.hadjust(gsl.pointee.state, dim, order, y, yerr, yp, &hGSL)
                let sOurs = ours.pointee.type.pointee.hadjust(ours.pointee.state, dim, order, y, yerr, yp, &hOurs)
                XCTAssertEqual(sOurs, sGSL, "dim \(dim) order \(order)")
                XCTAssertEqual(hOurs.bitPattern, hGSL.bitPattern, "dim \(dim) order \(order): \(hOurs) against \(hGSL)")
                for i in 0..<dim {
                    var eGSL = 0.0, eOurs = 0.0
                    let a = gsl_odeiv2_control_errlevel(gsl, y[i], yp[i], h0, i, &eGSL)
                    let b = gsl_odeiv2_control_errlevel(ours, y[i], yp[i], h0, i, &eOurs)
                    XCTAssertEqual(a, b)
                    // A NaN level (from NaN or 0·∞ inputs) may carry the other NaN's sign where two
                    // NaNs meet in a sum (x86 returns the first operand's): every use compares it.
                    if eGSL.isNaN { XCTAssertTrue(eOurs.isNaN) } else { XCTAssertEqual(eOurs.bitPattern, eGSL.bitPattern) }
                }
            }
        }
    }
}
