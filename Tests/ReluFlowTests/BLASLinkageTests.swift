import CLapack
import Foundation
import XCTest
@testable import ReluFlow

/// ReluFlow uses OpenBLAS for LAPACK (`CLapack`) beside GSL's reference CBLAS, and both export the
/// `cblas_*` symbols. GSL's own BLAS calls (the steppers' LU, the eigensolvers) must stay on
/// the reference CBLAS: OpenBLAS picks its kernels by CPU and runs threads, and run folders are reproducible
/// to the last digit only with the reference CBLAS (NotebookDataTests). The executable's own
/// cblas_dtrsv, dger, dgemm, dtrsm, dsyrk and dcopy (CFieldKernels/reference_blas.c) come first:
/// they compute the reference's operations in its order (ReferenceBLASTests: bitwise) and pass
/// every other call on to libgslcblas. OpenBLAS is loaded with
/// dlopen(RTLD_LOCAL) on first use, so none of its symbols enter the global scope; the executable
/// does not load it (nor librsvg) at start (issue 22: the fixed cost of a command).
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

    /// The main program's file (the executable that links ReluFlow, so reference_blas.c).
    private var mainProgram: String { (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? "" }

    func testGSLKeepsTheReferenceCBLASAndLAPACKComesFromOpenBLAS() throws {
        let cblas = try XCTUnwrap(try library(of: "cblas_dgemm"))
        XCTAssertEqual(cblas, mainProgram, "cblas_dgemm resolves to \(cblas)")
        let other = try XCTUnwrap(try library(of: "cblas_dgemv"))
        XCTAssertTrue(other.contains("libgslcblas"), "cblas_dgemv resolves to \(other)")
        XCTAssertNil(try library(of: "dgelsd_"), "OpenBLAS's LAPACK must not be in the global scope")
        let lapack = try XCTUnwrap(rf_lapack_path().map { String(cString: $0) })
        XCTAssertTrue(lapack.contains("openblas"), "LAPACK loaded from \(lapack)")
        // Still after OpenBLAS was loaded: GSL's cblas_* bind to the reference CBLAS.
        let after = try XCTUnwrap(try library(of: "cblas_dgemm"))
        XCTAssertEqual(after, mainProgram, "cblas_dgemm resolves to \(after)")
        let otherAfter = try XCTUnwrap(try library(of: "cblas_dgemv"))
        XCTAssertTrue(otherAfter.contains("libgslcblas"), "cblas_dgemv resolves to \(otherAfter)")
    }

    /// The executable's start loads neither OpenBLAS nor librsvg (the dynamic linker's list of the
    /// libraries it loads, LD_TRACE_LOADED_OBJECTS, as ldd prints it).
    func testExecutableLoadsNeitherOpenBLASNorTheRendererAtStart() throws {
        let process = Process()
        process.executableURL = reluflowExecutable()
        process.arguments = ["examples"]
        process.environment = ["LD_TRACE_LOADED_OBJECTS": "1"]
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        XCTAssertTrue(text.contains("libgsl"), text)
        XCTAssertFalse(text.contains("openblas"), text)
        XCTAssertFalse(text.contains("rsvg") || text.contains("cairo"), text)
    }
}
