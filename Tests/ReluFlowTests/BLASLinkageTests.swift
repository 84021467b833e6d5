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

    /// OpenBLAS picks its kernels by the CPU it finds, and different CPUs' kernels round
    /// differently; ReluFlow asks for the Haswell kernels wherever the CPU has AVX2 and FMA and the
    /// user chose no core type (lapack.c), so an analysis is the same bits on every such machine:
    /// `analyze` without OPENBLAS_CORETYPE writes what it writes with the Haswell kernels asked for.
    /// Without that choice this fails on an AVX-512 machine (seen on an AMD EPYC: the pattern floor's
    /// least-squares solve moved by a few ulp, notebooks-data/small-init's terminal gap 3.795e-18
    /// against 1.084e-18), and README's transcripts with it.
    func testAnalysisUsesTheSameOpenBLASKernelsOnEveryMachine() throws {
        let flags = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        guard flags.contains(" avx2"), flags.contains(" fma") else { throw XCTSkip("a CPU without AVX2 and FMA") }
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let run = root.appendingPathComponent("notebooks-data/small-init")
        for name in ["chosen", "haswell"] {
            try FileManager.default.copyItem(at: run, to: dir.appendingPathComponent(name))
        }
        let env = URL(fileURLWithPath: "/usr/bin/env"), exe = reluflowExecutable().path
        let chosen = try runProgram(env, ["-u", "OPENBLAS_CORETYPE", exe, "analyze", "chosen"], in: dir)
        let haswell = try runProgram(env, ["OPENBLAS_CORETYPE=Haswell", exe, "analyze", "haswell"], in: dir)
        XCTAssertEqual(chosen.status, 0, chosen.stderr)
        XCTAssertEqual(haswell.status, 0, haswell.stderr)
        XCTAssertEqual(chosen.stdout.replacingOccurrences(of: "chosen", with: "RUN"),
                       haswell.stdout.replacingOccurrences(of: "haswell", with: "RUN"))
        let a = try Data(contentsOf: dir.appendingPathComponent("chosen/analysis.json"))
        let b = try Data(contentsOf: dir.appendingPathComponent("haswell/analysis.json"))
        XCTAssertEqual(a, b, "analysis.json differs between OpenBLAS's own choice of kernels and Haswell's")
    }

    /// One OpenBLAS thread unless the user chose a number (lapack.c): ANLS's least-squares solves
    /// (dgelsd) on 400 × 41 matrices give other bits when OpenBLAS splits them among threads, and
    /// its default is one thread per core, so the same config gave other events on machines with
    /// other core counts (a new user saw 536 against 544 events after 20 iterations on two cores).
    /// A run with no thread count set must write what it writes with OPENBLAS_NUM_THREADS=1, bit
    /// for bit. (On a one-core machine both are one thread and the test cannot fail.)
    func testANLSIsTheSameWhateverTheNumberOfCores() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let config = #"{"example": "sine", "data": {"target": {"function": "sin(pi*x)", "m": 400, "range": [-1, 1]}}, "network": {"width": 40, "init": {"seed": 0}}, "train": {"method": "anls", "iterations": 20}}"#
        try Data(config.utf8).write(to: dir.appendingPathComponent("anls.json"))
        let env = URL(fileURLWithPath: "/usr/bin/env"), exe = reluflowExecutable().path
        let unset = ["-u", "OPENBLAS_NUM_THREADS", "-u", "GOTO_NUM_THREADS", "-u", "OMP_NUM_THREADS"]
        let chosen = try runProgram(env, unset + [exe, "train", "--config", "anls.json", "--quiet", "--out", "chosen"], in: dir)
        let one = try runProgram(env, unset + ["OPENBLAS_NUM_THREADS=1", exe, "train", "--config", "anls.json", "--quiet", "--out", "one"], in: dir)
        XCTAssertEqual(chosen.status, 0, chosen.stderr)
        XCTAssertEqual(one.status, 0, one.stderr)
        for file in ["trajectory.csv", "events.csv"] {
            let a = try Data(contentsOf: dir.appendingPathComponent("chosen/\(file)"))
            let b = try Data(contentsOf: dir.appendingPathComponent("one/\(file)"))
            XCTAssertEqual(a, b, "\(file) differs between OpenBLAS's default thread count and one thread")
        }
    }
}
