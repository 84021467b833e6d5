import Foundation
import XCTest
@testable import ReluFlow

/// ReluFlow links OpenBLAS for LAPACK (`CLapack`) beside GSL's reference CBLAS, and both export the
/// `cblas_*` symbols. The dynamic linker binds each to the first library in load order, which is
/// the order of the targets' dependencies in Package.swift (CGSL before CLapack). GSL's own BLAS
/// calls (the steppers' LU, the eigensolvers) must stay on libgslcblas: OpenBLAS picks its kernels by
/// CPU and runs threads, and run folders are reproducible to the last digit only with the reference
/// CBLAS (NotebookDataTests). This pins the order.
final class BLASLinkageTests: XCTestCase {
    /// The file mapped where the process's global lookup finds `symbol` (/proc/self/maps: Glibc's
    /// dladdr is not visible to Swift).
    func library(of symbol: String) throws -> String? {
        guard let process = dlopen(nil, RTLD_NOW), let address = dlsym(process, symbol) else { return nil }
        let target = UInt(bitPattern: address)
        // Read to the end (procfs reports a size of 0, which whole-file reads trust).
        let maps = try XCTUnwrap(FileHandle(forReadingAtPath: "/proc/self/maps")).readDataToEndOfFile()
        for line in String(decoding: maps, as: UTF8.self).split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            let range = fields[0].split(separator: "-")
            guard fields.count >= 6, range.count == 2, let lo = UInt(range[0], radix: 16), let hi = UInt(range[1], radix: 16),
                  lo <= target, target < hi else { continue }
            return String(fields[5])
        }
        return nil
    }

    func testGSLKeepsTheReferenceCBLASAndLAPACKComesFromOpenBLAS() throws {
        let cblas = try XCTUnwrap(try library(of: "cblas_dgemm"))
        XCTAssertTrue(cblas.contains("libgslcblas"), "cblas_dgemm resolves to \(cblas)")
        let lapack = try XCTUnwrap(try library(of: "dgelsd_"))
        XCTAssertTrue(lapack.contains("openblas"), "dgelsd_ resolves to \(lapack)")
    }
}
