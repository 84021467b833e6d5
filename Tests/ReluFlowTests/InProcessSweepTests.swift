import Foundation
import XCTest
@testable import ReluFlow

/// `reluflow sweep --in-process` (issue 22): simulate and train runs executed in the sweep's own
/// process write the same sweep folder as worker processes do, byte for byte but the wall times.
final class InProcessSweepTests: XCTestCase {
    /// Every file of the two folders, by relative path (hidden entries, the locks, excluded).
    private func files(_ root: URL) throws -> [String: URL] {
        var out: [String: URL] = [:]
        let rootPath = root.resolvingSymlinksInPath().path
        guard let walker = FileManager.default.enumerator(at: root, includingPropertiesForKeys: [.isRegularFileKey], options: [.skipsHiddenFiles]) else { return out }
        for case let url as URL in walker where (try url.resourceValues(forKeys: [.isRegularFileKey])).isRegularFile == true {
            let path = url.resolvingSymlinksInPath().path
            out[String(path.dropFirst(rootPath.count + 1))] = url
        }
        return out
    }

    /// The JSON value without the machine's timings (`wallSeconds`, `stepperSeconds`), and a marker
    /// without its files' modification times and summary.json's hash and size (which hold them).
    private func withoutTimes(_ value: Any, marker: Bool = false) -> Any {
        if var d = value as? [String: Any] {
            d.removeValue(forKey: "wallSeconds")
            d.removeValue(forKey: "stepperSeconds")
            if marker, var files = d["files"] as? [String: Any] {
                for (name, entry) in files {
                    guard var e = entry as? [String: Any] else { continue }
                    e.removeValue(forKey: "modified")
                    if name == "summary.json" { e.removeValue(forKey: "hash"); e.removeValue(forKey: "size") }
                    files[name] = e
                }
                d["files"] = files
            }
            return d.mapValues { withoutTimes($0) }
        }
        if let a = value as? [Any] { return a.map { withoutTimes($0) } }
        return value
    }

    /// A failure record with the report line's wall time ("…, 0.0123 s") and the sweep folder's name masked.
    private func maskedSeconds(_ text: String) -> String {
        text.replacingOccurrences(of: #"/(spawned|inproc)/"#, with: "/OUT/", options: .regularExpression)
            .replacingOccurrences(of: #", [0-9.e+-]+ s(\n|$)"#, with: ", X s$1", options: .regularExpression)
            .replacingOccurrences(of: #"pattern intervals, [0-9.e+-]+ s"#, with: "pattern intervals, X s", options: .regularExpression)
    }

    private func assertSameFolders(_ a: URL, _ b: URL, file: StaticString = #filePath, line: UInt = #line) throws {
        let fa = try files(a), fb = try files(b)
        XCTAssertEqual(fa.keys.sorted(), fb.keys.sorted(), "the same files", file: file, line: line)
        XCTAssertFalse(fa.isEmpty, file: file, line: line)
        for (name, x) in fa {
            guard let y = fb[name] else { continue }
            let dx = try Data(contentsOf: x), dy = try Data(contentsOf: y)
            let base = (name as NSString).lastPathComponent
            if base == "summary.json" || base == "reluflow-output.json" {
                let jx = try JSONSerialization.jsonObject(with: dx), jy = try JSONSerialization.jsonObject(with: dy)
                let marker = base == "reluflow-output.json"
                XCTAssertEqual(try JSONSerialization.data(withJSONObject: withoutTimes(jx, marker: marker), options: .sortedKeys),
                               try JSONSerialization.data(withJSONObject: withoutTimes(jy, marker: marker), options: .sortedKeys),
                               name, file: file, line: line)
            } else if name.hasPrefix("failures/") {
                XCTAssertEqual(maskedSeconds(String(decoding: dx, as: UTF8.self)), maskedSeconds(String(decoding: dy, as: UTF8.self)),
                               name, file: file, line: line)
            } else {
                XCTAssertEqual(dx, dy, name, file: file, line: line)
            }
        }
    }

    /// The closing line without its timings.
    private func closing(_ stdout: String) -> String {
        stdout.replacingOccurrences(of: #" \(expansion .*\)"#, with: "", options: .regularExpression)
            .replacingOccurrences(of: #"/(spawned|inproc)"#, with: "/OUT", options: .regularExpression)
            .replacingOccurrences(of: #" (spawned|inproc):"#, with: " OUT:", options: .regularExpression)
    }

    /// A simulate sweep (seeds × a failing maxEvents) and a train sweep, each run with worker
    /// processes and in-process (two at once): the same folders, failure records and closing line;
    /// a rerun of each skips every complete run and leaves the failed ones.
    func testInProcessSweepWritesTheWorkersFolders() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let grids = [
            ("simulate", """
                {"command": "simulate", "base": {"example": "sine", "network": {"width": 3}, "flow": {"T": 20, "samples": {"count": 20}}},
                 "axes": {"network.init.seed": [0, 1, 2], "flow.maxEvents": [1, 1000000]}}
                """, Int32(1)),
            ("train", """
                {"command": "train", "base": {"example": "sine", "network": {"width": 3}, "train": {"iterations": 5}},
                 "axes": {"network.init.seed": [0, 1]}}
                """, Int32(0)),
        ]
        for (name, text, status) in grids {
            let grid = dir.appendingPathComponent("\(name).json")
            try Data(text.utf8).write(to: grid)
            let out = dir.appendingPathComponent(name)
            try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
            let spawned = try runReluflow(["sweep", grid.path, "--out", "spawned", "--jobs", "2", "--quiet"], in: out)
            let inproc = try runReluflow(["sweep", grid.path, "--out", "inproc", "--jobs", "2", "--quiet", "--in-process"], in: out)
            XCTAssertEqual(spawned.status, status, "\(name): \(spawned.stdout) \(spawned.stderr)")
            XCTAssertEqual(inproc.status, status, "\(name): \(inproc.stdout) \(inproc.stderr)")
            XCTAssertEqual(closing(spawned.stdout), closing(inproc.stdout), name)
            try assertSameFolders(out.appendingPathComponent("spawned"), out.appendingPathComponent("inproc"))
            // Rerun in-process: nothing left to run but the failed runs, which stay failed.
            let again = try runReluflow(["sweep", grid.path, "--out", "inproc", "--quiet", "--in-process"], in: out)
            XCTAssertEqual(again.status, status, again.stderr)
            XCTAssertTrue(again.stdout.contains(": 0 ran, "), again.stdout)
            // Both folders collect to the same table.
            XCTAssertEqual(try runReluflow(["collect", "spawned"], in: out).status, 0)
            XCTAssertEqual(try runReluflow(["collect", "inproc"], in: out).status, 0)
            assertSameSweepTable(try sweepTable(out.appendingPathComponent("spawned/sweep.csv")),
                                 try sweepTable(out.appendingPathComponent("inproc/sweep.csv")))
        }
    }

    /// An in-process sweep stopped by SIGINT exits 130 with the runs in flight written as
    /// interrupted (their folders' status), and a rerun in-process continues them from their
    /// checkpoints and leaves the runs complete before untouched; the table then has every run complete.
    func testInterruptedInProcessSweepResumes() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let grid = dir.appendingPathComponent("grid.json")
        try Data("""
            {"command": "simulate", "base": {"example": "sine", "network": {"width": 60}, "flow": {"T": 1e5, "samples": {"count": 50}}},
             "axes": {"network.init.seed": [0, 1, 2, 3]}}
            """.utf8).write(to: grid)
        let p = Process()
        p.executableURL = reluflowExecutable()
        p.arguments = ["sweep", grid.path, "--out", "s", "--jobs", "2", "--quiet", "--in-process"]
        p.currentDirectoryURL = dir
        p.standardOutput = Pipe()
        p.standardError = Pipe()
        try p.run()
        usleep(1_500_000)
        kill(p.processIdentifier, SIGINT)
        p.waitUntilExit()
        XCTAssertTrue([130, 0].contains(p.terminationStatus), "status \(p.terminationStatus)")
        let runs = dir.appendingPathComponent("s/runs")
        var completed: [String: Date] = [:]
        for id in (try? FileManager.default.contentsOfDirectory(atPath: runs.path)) ?? [] where !id.hasPrefix(".") {
            let summary = runs.appendingPathComponent("\(id)/summary.json")
            let text = try String(contentsOf: summary, encoding: .utf8)
            XCTAssertTrue(text.contains("\"status\" : \"completed\"") || text.contains("\"status\" : \"interrupted\""), text)
            if text.contains("\"status\" : \"completed\"") {
                completed[id] = try FileManager.default.attributesOfItem(atPath: summary.path)[.modificationDate] as? Date
            }
        }
        let r = try runReluflow(["sweep", grid.path, "--out", "s", "--jobs", "2", "--quiet", "--in-process"], in: dir)
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("4 runs: \(4 - completed.count) ran") && r.stdout.contains("\(completed.count) already complete, 0 failed"), r.stdout)
        for (id, time) in completed {
            let now = try FileManager.default.attributesOfItem(atPath: runs.appendingPathComponent("\(id)/summary.json").path)[.modificationDate] as? Date
            XCTAssertEqual(now, time, "run \(id) was complete and must not run again")
        }
        XCTAssertEqual(try runReluflow(["collect", "s"], in: dir).status, 0)
        let rows = try sweepTable(dir.appendingPathComponent("s/sweep.csv"))
        XCTAssertEqual(rows.map { $0["status"] }, [String?](repeating: "completed", count: 4))
        print("interrupted in-process sweep: \(completed.count) complete at the signal; rerun: \(r.stdout)")
    }
}

/// The marker's file hash is defined over the whole file (eight-byte words, then the tail and the
/// length): reading in parts of any size must give the value of the bytes hashed at once.
final class ContentHashTests: XCTestCase {
    private func wholeHash(_ bytes: [UInt8]) -> UInt64 {
        var h: UInt64 = 0x9E37_79B9_7F4A_7C15
        var q = 0
        while q + 8 <= bytes.count {
            var w: UInt64 = 0
            for k in 0..<8 { w |= UInt64(bytes[q + k]) << (8 * UInt64(k)) }
            h = ((h ^ w) &* 0xBF58_476D_1CE4_E5B9)
            h = (h << 31) | (h >> 33)
            q += 8
        }
        while q < bytes.count {
            h = (h ^ UInt64(bytes[q])) &* 0x94D0_49BB_1331_11EB
            q += 1
        }
        h ^= UInt64(bytes.count)
        h = (h ^ (h >> 30)) &* 0xBF58_476D_1CE4_E5B9
        return h ^ (h >> 31)
    }

    func testHashInPartsEqualsTheWholeFilesHash() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var rng = SplitMix(state: 7)
        for size in [0, 7, 8, 65_535, 65_536, 65_543, 200_003, 1_048_583] {
            let bytes = (0..<size).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            let url = dir.appendingPathComponent("f\(size)")
            try Data(bytes).write(to: url)
            XCTAssertEqual(OutputMarker.contentHash(url.path), wholeHash(bytes), "size \(size)")
        }
    }

    /// A stream hashes its CSV files as it writes them (`ContentHasher`, parts of any size, most
    /// ending inside a word) instead of the marker reading them back: the same value as the whole
    /// bytes' hash, exactly.
    func testHashOfPartsAsWrittenEqualsTheWholeHash() {
        var rng = SplitMix(state: 11)
        for size in [0, 1, 7, 8, 9, 15, 16, 17, 100, 4_099, 65_543] {
            let bytes = (0..<size).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            for trial in 0..<20 {
                var hasher = ContentHasher()
                var q = 0
                while q < size {
                    // Parts of 0 to 20 bytes, or the rest at once in the last trial.
                    let n = trial == 19 ? size - q : min(size - q, Int(rng.next() % 21))
                    bytes[q..<(q + n)].withUnsafeBytes { hasher.add($0) }
                    q += n
                }
                XCTAssertEqual(hasher.value, wholeHash(bytes), "size \(size), trial \(trial)")
                XCTAssertEqual(hasher.length, UInt64(size))
            }
            XCTAssertEqual(OutputMarker.Written(Data(bytes)).hash, wholeHash(bytes), "size \(size)")
        }
    }
}
