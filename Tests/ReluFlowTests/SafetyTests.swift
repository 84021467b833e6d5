import Foundation
import XCTest
@testable import ReluFlow

/// A command never deletes or replaces what it did not write, and a run stopped in any way can be
/// continued (issue 15, items 1, 2, 6, 10; INTERFACE.md "Exit status").
final class OutputSafetyTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = try temporaryDirectory()
        // A user's project: files the toolkit must never touch.
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("src"), withIntermediateDirectories: true)
        try "int main;".write(to: dir.appendingPathComponent("src/a.c"), atomically: true, encoding: .utf8)
        try "notes".write(to: dir.appendingPathComponent("notes.txt"), atomically: true, encoding: .utf8)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: dir)
    }

    func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: dir.appendingPathComponent(path).path) }

    /// An empty path, the current folder and its ancestors (however spelled) are refused before
    /// anything runs; the user's files stay.
    func testOutputPathsHoldingTheCurrentFolderAreRefused() throws {
        for out in ["", " ", ".", "./", "src/..", dir.path, "..", "../..", "/", NSHomeDirectory()] {
            let result = try runReluflow(["simulate", "--T", "1", "--quiet", "--out", out], in: dir)
            XCTAssertEqual(result.status, 2, "--out '\(out)': \(result.stderr)")
            XCTAssertTrue(result.stderr.contains("--out"), result.stderr)
            XCTAssertTrue(exists("src/a.c") && exists("notes.txt"), "--out '\(out)' took the user's files")
        }
        // The same for analyze/plot --out and for --resume's destination.
        let run = try runReluflow(["simulate", "--T", "1", "--quiet", "--out", "r"], in: dir)
        XCTAssertEqual(run.status, 0, run.stderr)
        for command in [["analyze", "r", "--out", "."], ["plot", "r", "--out", ""], ["analyze", "r", "--out", "src"]] {
            let result = try runReluflow(command, in: dir)
            XCTAssertEqual(result.status, 2, "\(command): \(result.stderr)")
        }
        XCTAssertTrue(exists("src/a.c") && exists("notes.txt"))
    }

    /// A folder is replaced only when it holds exactly what ReluFlow wrote there.
    func testOnlyCompleteReluFlowOutputsAreReplaced() throws {
        // A foreign folder that happens to hold a summary.json.
        let foreign = dir.appendingPathComponent("thesis")
        try FileManager.default.createDirectory(at: foreign.appendingPathComponent("figs"), withIntermediateDirectories: true)
        for name in ["summary.json", "thesis.tex", "figs/a.pdf"] {
            try "x".write(to: foreign.appendingPathComponent(name), atomically: true, encoding: .utf8)
        }
        let intoForeign = try runReluflow(["simulate", "--T", "1", "--quiet", "--out", "thesis"], in: dir)
        XCTAssertEqual(intoForeign.status, 2, intoForeign.stderr)
        XCTAssertTrue(intoForeign.stderr.contains("thesis.tex"), intoForeign.stderr)
        XCTAssertTrue(exists("thesis/thesis.tex") && exists("thesis/figs/a.pdf") && exists("thesis/summary.json"))

        // A run folder, analysed and plotted: all of it ReluFlow's, so a rerun replaces it.
        XCTAssertEqual(try runReluflow(["simulate", "--T", "1", "--quiet", "--out", "run"], in: dir).status, 0)
        XCTAssertEqual(try runReluflow(["analyze", "run"], in: dir).status, 0)
        XCTAssertEqual(try runReluflow(["plot", "run"], in: dir).status, 0)
        let marker = try JSONDecoder().decode(OutputMarker.self, from: Data(contentsOf: dir.appendingPathComponent("run/\(OutputMarker.fileName)")))
        XCTAssertEqual(marker.formatVersion, OutputMarker.currentFormatVersion)
        XCTAssertNotNil(marker.files["analysis.json"])
        XCTAssertNotNil(marker.files["loss.svg"])
        let rerun = try runReluflow(["simulate", "--T", "2", "--quiet", "--out", "run"], in: dir)
        XCTAssertEqual(rerun.status, 0, rerun.stderr)
        XCTAssertFalse(exists("run/analysis.json"), "the replaced run's analysis stays behind")

        // A file the user added, or changed, makes it theirs: refused, naming it, and kept.
        try "my notes".write(to: dir.appendingPathComponent("run/notes.md"), atomically: true, encoding: .utf8)
        let withNotes = try runReluflow(["simulate", "--T", "1", "--quiet", "--out", "run"], in: dir)
        XCTAssertEqual(withNotes.status, 2, withNotes.stderr)
        XCTAssertTrue(withNotes.stderr.contains("notes.md"), withNotes.stderr)
        XCTAssertTrue(exists("run/notes.md"))
        try FileManager.default.removeItem(at: dir.appendingPathComponent("run/notes.md"))
        let config = dir.appendingPathComponent("run/config.json")
        try (try String(contentsOf: config, encoding: .utf8) + "\n").write(to: config, atomically: true, encoding: .utf8)
        let edited = try runReluflow(["simulate", "--T", "1", "--quiet", "--out", "run"], in: dir)
        XCTAssertEqual(edited.status, 2, edited.stderr)
        XCTAssertTrue(edited.stderr.contains("config.json"), edited.stderr)
        // analyze does not overwrite a file of the same name that it did not write.
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("mine"), withIntermediateDirectories: true)
        XCTAssertEqual(try runReluflow(["simulate", "--T", "1", "--quiet", "--out", "other"], in: dir).status, 0)
        try "mine".write(to: dir.appendingPathComponent("other/analysis.json"), atomically: true, encoding: .utf8)
        let analyze = try runReluflow(["analyze", "other"], in: dir)
        XCTAssertEqual(analyze.status, 2, analyze.stderr)
        XCTAssertEqual(try String(contentsOf: dir.appendingPathComponent("other/analysis.json"), encoding: .utf8), "mine")
        // A folder of an older version (no marker) is not replaced either.
        try FileManager.default.removeItem(at: dir.appendingPathComponent("other/\(OutputMarker.fileName)"))
        try FileManager.default.removeItem(at: dir.appendingPathComponent("other/analysis.json"))
        let legacy = try runReluflow(["simulate", "--T", "1", "--quiet", "--out", "other"], in: dir)
        XCTAssertEqual(legacy.status, 2, legacy.stderr)
        XCTAssertTrue(legacy.stderr.contains(OutputMarker.fileName), legacy.stderr)
    }

    /// Found by an independent review: an edit that keeps the size, files with ReluFlow-like names
    /// (a link named like a replaced run folder, a folder named like a staging folder, a file named
    /// like a temporary one inside a run folder), a dangling link as --out, and analyze --out into
    /// a folder of another kind.
    func testReviewFindings() throws {
        XCTAssertEqual(try runReluflow(["simulate", "--T", "1", "--quiet", "--out", "r"], in: dir).status, 0)
        let summary = dir.appendingPathComponent("r/summary.json")
        let text = try String(contentsOf: summary, encoding: .utf8)
        try text.replacingOccurrences(of: "\"completed\"", with: "\"COMPLETED\"").write(to: summary, atomically: false, encoding: .utf8)
        let edited = try runReluflow(["simulate", "--T", "1", "--quiet", "--out", "r"], in: dir)
        XCTAssertEqual(edited.status, 2, "an edit of the same size: \(edited.stderr)")
        XCTAssertTrue(try String(contentsOf: summary, encoding: .utf8).contains("COMPLETED"))

        // Names like ReluFlow's own: kept.
        let fm = FileManager.default
        try fm.createDirectory(at: dir.appendingPathComponent("precious"), withIntermediateDirectories: true)
        try "keep".write(to: dir.appendingPathComponent("precious/config.json"), atomically: true, encoding: .utf8)
        try fm.createSymbolicLink(atPath: dir.appendingPathComponent(".s6.old-999999").path, withDestinationPath: "precious")
        try fm.createDirectory(at: dir.appendingPathComponent(".s6.partial-999998"), withIntermediateDirectories: true)
        try "keep".write(to: dir.appendingPathComponent(".s6.partial-999998/config.json"), atomically: true, encoding: .utf8)
        XCTAssertEqual(try runReluflow(["simulate", "--T", "1", "--quiet", "--out", "s6"], in: dir).status, 0)
        XCTAssertTrue(fm.fileExists(atPath: dir.appendingPathComponent("precious/config.json").path))
        XCTAssertTrue(fm.fileExists(atPath: dir.appendingPathComponent(".s6.partial-999998/config.json").path))
        // A staging folder whose pid runs again, as another process (a container's pid 1 after a
        // hard kill): the start time in its sentinel tells it from the live process's, so it is
        // abandoned and removed; one whose sentinel records the live process's start time is kept.
        let me = getpid()
        for (name, start) in [("s8", "1"), ("s9", String(RunFolder.processStart(me) ?? 0))] {
            let stale = dir.appendingPathComponent(".\(name).partial-\(me)")
            try fm.createDirectory(at: stale, withIntermediateDirectories: true)
            try "\(me) \(start)\n".write(to: stale.appendingPathComponent(".reluflow-staging"), atomically: true, encoding: .utf8)
            try "{}".write(to: stale.appendingPathComponent("config.json"), atomically: true, encoding: .utf8)
            XCTAssertEqual(try runReluflow(["simulate", "--T", "1", "--quiet", "--out", name], in: dir).status, 0)
            XCTAssertEqual(fm.fileExists(atPath: stale.path), name == "s9", name)
        }
        try "mine".write(to: dir.appendingPathComponent("s6/.notes.partial-999999"), atomically: true, encoding: .utf8)
        let hidden = try runReluflow(["simulate", "--T", "1", "--quiet", "--out", "s6"], in: dir)
        XCTAssertEqual(hidden.status, 2, hidden.stderr)
        XCTAssertTrue(hidden.stderr.contains(".notes.partial-999999"), hidden.stderr)

        try fm.createSymbolicLink(atPath: dir.appendingPathComponent("dangling").path, withDestinationPath: "nowhere")
        let dangling = try runReluflow(["simulate", "--T", "1", "--quiet", "--out", "dangling"], in: dir)
        XCTAssertEqual(dangling.status, 2, dangling.stderr)

        XCTAssertEqual(try runReluflow(["simulate", "--T", "1", "--quiet", "--out", "other"], in: dir).status, 0)
        let intoRun = try runReluflow(["analyze", "r", "--out", "other"], in: dir)
        XCTAssertEqual(intoRun.status, 2, intoRun.stderr)
        XCTAssertFalse(fm.fileExists(atPath: dir.appendingPathComponent("other/analysis.json").path))
    }

    /// An edit that keeps a file's size and modification time (the time put back with `touch -r`,
    /// or an edit within the file system's clock tick) is still an edit: the folder is refused, the
    /// edit kept (a tester's trial: it was replaced, exit 0, because the hash was consulted only
    /// when the time differed).
    func testAnEditThatKeepsSizeAndTimeIsNoticed() throws {
        XCTAssertEqual(try runReluflow(["simulate", "--example", "sine", "--T", "1", "--out", "r", "--quiet"], in: dir).status, 0)
        let file = dir.appendingPathComponent("r/data.csv")
        var info = stat()
        XCTAssertEqual(stat(file.path, &info), 0)
        var text = try String(contentsOf: file, encoding: .utf8)
        let digit = try XCTUnwrap(text.firstIndex { $0 >= "0" && $0 <= "8" })
        text.replaceSubrange(digit...digit, with: String(Character(UnicodeScalar(text[digit].asciiValue! + 1))))
        try Data(text.utf8).write(to: file)
        var times = [info.st_atim, info.st_mtim]
        XCTAssertEqual(utimensat(AT_FDCWD, file.path, &times, 0), 0)
        let r = try runReluflow(["simulate", "--example", "sine", "--T", "1", "--out", "r", "--quiet"], in: dir)
        XCTAssertEqual(r.status, 2, r.stderr)
        XCTAssertTrue(r.stderr.contains("data.csv (changed since ReluFlow wrote it)"), r.stderr)
        XCTAssertEqual(try String(contentsOf: file, encoding: .utf8), text)
        // A copy that changes the time but not the bytes is still the tool's: replaced.
        let copy = dir.appendingPathComponent("r2")
        XCTAssertEqual(try runReluflow(["simulate", "--example", "sine", "--T", "1", "--out", "r2", "--quiet"], in: dir).status, 0)
        var later = [timespec(tv_sec: 1_000_000, tv_nsec: 0), timespec(tv_sec: 1_000_000, tv_nsec: 0)]
        XCTAssertEqual(utimensat(AT_FDCWD, copy.appendingPathComponent("data.csv").path, &later, 0), 0)
        XCTAssertEqual(try runReluflow(["simulate", "--example", "sine", "--T", "1", "--out", "r2", "--quiet"], in: dir).status, 0)
    }

    /// An output of another kind is not replaced (found by a new-user trial: `simulate --out` on a
    /// compare folder replaced its six runs and figures by one run, exit 0): exit 2 naming --out,
    /// before the run, and the folder as it was; the same kind still replaces it.
    func testOutputOfAnotherKindIsNotReplaced() throws {
        let compare = ["compare", "--example", "sine", "--T", "1", "--iterations", "50", "--methods", "flow,gd", "--out", "cmp", "--quiet"]
        XCTAssertEqual(try runReluflow(compare, in: dir).status, 0)
        let before = try FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("cmp").path).sorted()
        let marker = try Data(contentsOf: dir.appendingPathComponent("cmp/\(OutputMarker.fileName)"))
        for command in [["simulate", "--T", "1"], ["train", "--method", "gd", "--iterations", "10"]] {
            let run = try runReluflow(command + ["--out", "cmp", "--quiet"], in: dir)
            XCTAssertEqual(run.status, 2, run.stderr)
            XCTAssertTrue(run.stderr.contains("--out") && run.stderr.contains("compare output"), run.stderr)
        }
        let curvature = try runReluflow(["curvature", "--depths", "2", "--widths", "2", "--seeds", "1", "--out", "cmp"], in: dir)
        XCTAssertEqual(curvature.status, 2, curvature.stderr)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("cmp").path).sorted(), before)
        XCTAssertEqual(try Data(contentsOf: dir.appendingPathComponent("cmp/\(OutputMarker.fileName)")), marker)
        XCTAssertEqual(try runReluflow(compare, in: dir).status, 0)
        XCTAssertEqual(try runReluflow(["simulate", "--T", "1", "--out", "run", "--quiet"], in: dir).status, 0)
        XCTAssertEqual(try runReluflow(["simulate", "--T", "2", "--out", "run", "--quiet"], in: dir).status, 0)
    }

    /// A finished output refused at its commit (the destination became an output of another kind
    /// during the run) is kept under a visible name even when `NAME.new-PID` is taken (found by a
    /// review: the move failed and the finished run was deleted).
    func testRefusedOutputIsKeptWhenItsKeptNameIsTaken() throws {
        let target = dir.appendingPathComponent("T").path
        try RunFolder.writeOutput([("curvature.json", Data("{}".utf8))], to: target, kind: "curvature")
        let taken = dir.appendingPathComponent("T.new-\(getpid())")
        try FileManager.default.createDirectory(at: taken, withIntermediateDirectories: true)
        try "mine".write(to: taken.appendingPathComponent("mine.txt"), atomically: true, encoding: .utf8)
        let staging = try RunFolder.stage(target)
        try RunFolder.writeFile((staging as NSString).appendingPathComponent("config.json"), Data("{}".utf8))
        XCTAssertThrowsError(try RunFolder.commit(staging, to: target, kind: "run")) {
            XCTAssertTrue("\($0)".contains("T.new-\(getpid())-1"), "\($0)")
        }
        XCTAssertEqual(try String(contentsOf: taken.appendingPathComponent("mine.txt"), encoding: .utf8), "mine")
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent("T.new-\(getpid())-1/config.json").path))
        XCTAssertEqual(try OutputMarker.read(folder: target, field: "--out").kind, "curvature")
    }

    /// A file put into the hidden staging folder while the run goes on is not taken for ReluFlow's:
    /// it ends up in the run folder, unlisted, so the folder is no longer replaced.
    func testFileAddedToStagingDuringTheRunIsKept() throws {
        try SignalResumeTests.config.write(to: dir.appendingPathComponent("mid.json"), atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = reluflowExecutable()
        process.arguments = ["simulate", "--config", "mid.json", "--out", "st", "--quiet"]
        process.currentDirectoryURL = dir
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let staging = dir.appendingPathComponent(".st.partial-\(process.processIdentifier)")
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline, !FileManager.default.fileExists(atPath: staging.path), process.isRunning { Thread.sleep(forTimeInterval: 0.005) }
        try "notes".write(to: staging.appendingPathComponent("notes.txt"), atomically: false, encoding: .utf8)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0)
        let marker = try OutputMarker.read(folder: dir.appendingPathComponent("st").path, field: "--out")
        XCTAssertNil(marker.files["notes.txt"])
        let rerun = try runReluflow(["simulate", "--T", "1", "--quiet", "--out", "st"], in: dir)
        XCTAssertEqual(rerun.status, 2, rerun.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent("st/notes.txt").path))
    }

    /// analyze and plot write elsewhere with --out; a folder they cannot write is exit 3 with the
    /// path and the system's reason.
    func testAnalyzeAndPlotOutAndUnwritableFolders() throws {
        XCTAssertEqual(try runReluflow(["simulate", "--T", "1", "--quiet", "--out", "run"], in: dir).status, 0)
        let analyze = try runReluflow(["analyze", "run", "--out", "elsewhere/analysis"], in: dir)
        XCTAssertEqual(analyze.status, 0, analyze.stderr)
        XCTAssertTrue(exists("elsewhere/analysis/analysis.json") && exists("elsewhere/analysis/stationarity.json"))
        XCTAssertFalse(exists("run/analysis.json"))
        XCTAssertEqual(try runReluflow(["analyze", "run", "--out", "elsewhere/analysis"], in: dir).status, 0, "a second analysis replaces the first")
        let plot = try runReluflow(["plot", "run", "--out", "figures"], in: dir)
        XCTAssertEqual(plot.status, 0, plot.stderr)
        XCTAssertTrue(exists("figures/loss.svg"))

        guard getuid() != 0 else {
            // root writes into read-only folders; check the exit status on a path below a file instead.
            let blocked = try runReluflow(["analyze", "run", "--out", "notes.txt/sub"], in: dir)
            XCTAssertEqual(blocked.status, 3, blocked.stderr)
            XCTAssertTrue(blocked.stderr.contains("cannot create notes.txt"), blocked.stderr)
            XCTAssertFalse(blocked.stderr.contains("NSCocoaErrorDomain"), blocked.stderr)
            return
        }
        try FileManager.default.setAttributes([.posixPermissions: 0o555], ofItemAtPath: dir.appendingPathComponent("run").path)
        defer { try? FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: dir.appendingPathComponent("run").path) }
        let readOnly = try runReluflow(["analyze", "run"], in: dir)
        XCTAssertEqual(readOnly.status, 3, readOnly.stderr)
        XCTAssertTrue(readOnly.stderr.contains("Permission denied"), readOnly.stderr)
    }

    /// Folders that are not runs, and damaged runs, are named in the message.
    func testNotARunFolderIsNamed() throws {
        let analyze = try runReluflow(["analyze", "src"], in: dir)
        XCTAssertEqual(analyze.status, 2)
        XCTAssertTrue(analyze.stderr.contains("src is not a ReluFlow run folder"), analyze.stderr)
        XCTAssertFalse(analyze.stderr.contains("--config"), analyze.stderr)
        let resume = try runReluflow(["simulate", "--resume", "nowhere"], in: dir)
        XCTAssertEqual(resume.status, 2)
        XCTAssertTrue(resume.stderr.contains("nowhere does not exist"), resume.stderr)
        XCTAssertEqual(try runReluflow(["simulate", "--T", "1", "--quiet", "--out", "run"], in: dir).status, 0)
        try Data().write(to: dir.appendingPathComponent("run/events.csv"))
        let empty = try runReluflow(["analyze", "run"], in: dir)
        XCTAssertEqual(empty.status, 2, empty.stdout)
        XCTAssertTrue(empty.stderr.contains("events.csv"), empty.stderr)
        try #"{"t": "soon"}"#.write(to: dir.appendingPathComponent("run/checkpoint.json"), atomically: true, encoding: .utf8)
        let corrupt = try runReluflow(["simulate", "--resume", "run", "--T", "5"], in: dir)
        XCTAssertEqual(corrupt.status, 2)
        XCTAssertTrue(corrupt.stderr.contains("checkpoint.json is corrupt"), corrupt.stderr)
    }

    /// A run folder written by a newer ReluFlow (its marker's format version above this one's) is
    /// refused by every reader (`RunFolderReader`: analyze, plot, simulate --resume) with exit 2,
    /// naming both versions; the same folder at the current version reads.
    func testNewerFormatIsRefused() throws {
        XCTAssertEqual(try runReluflow(["simulate", "--T", "1", "--quiet", "--out", "run"], in: dir).status, 0)
        let run = dir.appendingPathComponent("run").path
        XCTAssertNoThrow(try RunFolderReader(run, field: "DIR").run())
        let markerURL = dir.appendingPathComponent("run/\(OutputMarker.fileName)")
        var marker = try JSONSerialization.jsonObject(with: Data(contentsOf: markerURL)) as! [String: Any]
        let newer = OutputMarker.currentFormatVersion + 1
        marker["formatVersion"] = newer
        try JSONSerialization.data(withJSONObject: marker).write(to: markerURL)
        let expected = "format version \(newer), newer than this ReluFlow's \(OutputMarker.currentFormatVersion)"
        for arguments in [["analyze", "run"], ["plot", "run"], ["simulate", "--resume", "run", "--T", "2"]] {
            let result = try runReluflow(arguments, in: dir)
            XCTAssertEqual(result.status, 2, arguments.joined(separator: " "))
            XCTAssertTrue(result.stderr.contains(expected), result.stderr)
        }
        XCTAssertThrowsError(try RunFolderReader(run, field: "DIR")) { error in
            XCTAssertEqual((error as? InputError)?.field, "DIR")
        }
        // A killed run's resume point of a newer format is not used to rewrite its files.
        var point = ResumePoint(t: 1, pid: 1, lengths: [], tails: [], headers: [], dropMatrices: false, summary: Data(), checkpoint: Data())
        point.formatVersion = ResumePoint.currentFormatVersion + 1
        XCTAssertThrowsError(try point.recover(folder: run, field: "--resume")) { error in
            XCTAssertEqual((error as? InputError)?.field, "--resume")
            XCTAssertTrue("\(error)".contains("format version \(ResumePoint.currentFormatVersion + 1), newer"), "\(error)")
        }
    }

    /// A file in a folder that ReluFlow did not write is refused, left as it was, and the refusal
    /// offers the command's own way round it: `--out` where the command has it, and for `collect`
    /// (which has none; a new-user trial was told to "use --out") to move the file away.
    func testRefusalOffersTheCommandsOwnWayRound() throws {
        let folder = dir.appendingPathComponent("sweepish")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let mine = folder.appendingPathComponent("sweep.csv")
        try Data("my,own\n".utf8).write(to: mine)
        for elsewhere in [nil, "move it out of the sweep folder to collect again; collect writes only there"] {
            XCTAssertThrowsError(try {
                if let elsewhere { try RunFolder.add([("sweep.csv", Data("x\n".utf8))], to: folder.path, elsewhere: elsewhere) }
                else { try RunFolder.add([("sweep.csv", Data("x\n".utf8))], to: folder.path) }
            }()) { error in
                XCTAssertTrue("\(error)".contains(elsewhere ?? "use --out to write elsewhere"), "\(error)")
                if elsewhere != nil { XCTAssertFalse("\(error)".contains("--out"), "\(error)") }
            }
            XCTAssertEqual(try Data(contentsOf: mine), Data("my,own\n".utf8))
        }
    }
}

/// SIGTERM and SIGHUP stop a run as Ctrl-C does; a run killed outright resumes from its last
/// periodic checkpoint; either way the continued run matches the uninterrupted one (same events,
/// θ within 1e-10: the restart at the checkpoint changes the step sequence, and the flow's
/// tolerance, rtol 1e-10, bounds what that moves).
final class SignalResumeTests: XCTestCase {
    /// d = 2, 400 points, width 40 to T = 10: about 3 s in a debug build, ~300 events.
    static let config = #"{"data": {"target": {"function": "sin(3*x)", "m": 400, "range": [-1, 1], "dim": 2, "points": "random"}}, "network": {"width": 40}, "flow": {"T": 10}}"#

    func start(_ arguments: [String], in dir: URL) throws -> Process {
        let process = Process()
        process.executableURL = reluflowExecutable()
        process.arguments = arguments
        process.currentDirectoryURL = dir
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }

    func summary(_ folder: URL) throws -> RunSummary {
        try JSONDecoder().decode(RunSummary.self, from: Data(contentsOf: folder.appendingPathComponent("summary.json")))
    }

    func eventRows(_ folder: URL) throws -> [[Substring]] {
        try String(contentsOf: folder.appendingPathComponent("events.csv"), encoding: .utf8)
            .split(separator: "\n").dropFirst().map { $0.split(separator: ",") }
    }

    func assertMatches(_ folder: URL, _ reference: URL, file: StaticString = #filePath, line: UInt = #line) throws {
        let a = try summary(folder), b = try summary(reference)
        XCTAssertEqual(a.status, .completed, file: file, line: line)
        XCTAssertEqual(a.finalTime, b.finalTime, file: file, line: line)
        let gap = zip(a.theta, b.theta).map { abs($0 - $1) }.max()!
        XCTAssertLessThan(gap, 1e-10, file: file, line: line)
        let ea = try eventRows(folder), eb = try eventRows(reference)
        XCTAssertEqual(ea.count, eb.count, file: file, line: line)
        XCTAssertEqual(ea.map { $0[1...3] }, eb.map { $0[1...3] }, "events (neuron, point, kind)", file: file, line: line)
        // Each sample time at most once, increasing.
        let times = try String(contentsOf: folder.appendingPathComponent("trajectory.csv"), encoding: .utf8)
            .split(separator: "\n").dropFirst().map { Double($0.split(separator: ",")[0])! }
        XCTAssertEqual(times, times.sorted(), file: file, line: line)
        XCTAssertEqual(Set(times).count, times.count, file: file, line: line)
        let npyRows = try RunFolderReader(folder.path, field: "DIR").run().run
        XCTAssertEqual(npyRows.samples.count, times.count, file: file, line: line)
    }

    func testTerminationSignalsInterruptResumably() throws {
        // (and see ProvenanceTests for a resume with other options)
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try Self.config.write(to: dir.appendingPathComponent("mid.json"), atomically: true, encoding: .utf8)
        XCTAssertEqual(try runReluflow(["simulate", "--config", "mid.json", "--out", "reference", "--quiet"], in: dir).status, 0)
        // (SIGTERM, twice at once): as `timeout` sends it, to the command and to its process group; one
        // stop request, not a second "stop now" (which a second signal a second later is).
        for (signal, status, twice) in [(SIGTERM, Int32(143), false), (SIGHUP, Int32(129), false), (SIGTERM, 143, true)] {
            let name = "stopped-\(signal)" + (twice ? "-twice" : "")
            let process = try start(["simulate", "--config", "mid.json", "--out", name, "--quiet"], in: dir)
            Thread.sleep(forTimeInterval: 0.8)
            kill(process.processIdentifier, signal)
            if twice { usleep(2_000); kill(process.processIdentifier, signal) }
            process.waitUntilExit()
            XCTAssertEqual(process.terminationStatus, status, "signal \(signal)")
            let folder = dir.appendingPathComponent(name)
            XCTAssertEqual(try summary(folder).status, .interrupted, "signal \(signal)\(twice ? " twice" : "")")
            let resumed = try runReluflow(["simulate", "--resume", name, "--quiet"], in: dir)
            XCTAssertEqual(resumed.status, 0, resumed.stderr)
            try assertMatches(folder, dir.appendingPathComponent("reference"))
            guard signal == SIGTERM else { continue }
            // The resumed run's config repeats it, the interrupted part included, file for file.
            let again = try runReluflow(["simulate", "--config", "\(name)/config.json", "--out", "again", "--quiet"], in: dir)
            XCTAssertEqual(again.status, 0, again.stderr)
            try assertSameFiles(folder, dir.appendingPathComponent("again"))
        }
    }

    /// SIGKILL: nothing runs after it. The staging folder's last checkpoint is continued by
    /// `--resume` with the run folder's name (or the staging folder's).
    func testKilledRunResumesFromItsCheckpoint() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try Self.config.write(to: dir.appendingPathComponent("mid.json"), atomically: true, encoding: .utf8)
        XCTAssertEqual(try runReluflow(["simulate", "--config", "mid.json", "--out", "reference", "--quiet"], in: dir).status, 0)
        for byStagingName in [false, true] {
            let name = "killed-\(byStagingName)"
            let process = try start(["simulate", "--config", "mid.json", "--out", name, "--quiet", "--checkpoint-every", "0.05"], in: dir)
            let staging = dir.appendingPathComponent(".\(name).partial-\(process.processIdentifier)")
            // Wait for a checkpoint past t = 0.5, then kill.
            let deadline = Date().addingTimeInterval(120)
            while Date() < deadline, (ResumePoint.read(folder: staging.path)?.t ?? 0) < 0.5, process.isRunning {
                Thread.sleep(forTimeInterval: 0.01)
            }
            XCTAssertTrue(process.isRunning, "the run ended before a checkpoint past t = 0.5")
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent(name).path))
            // A fresh run elsewhere keeps the resumable folder.
            XCTAssertEqual(try runReluflow(["simulate", "--T", "1", "--quiet", "--out", "other-\(name)"], in: dir).status, 0)
            let resumed = try runReluflow(["simulate", "--resume", byStagingName ? staging.lastPathComponent : name, "--quiet"], in: dir)
            XCTAssertEqual(resumed.status, 0, resumed.stderr)
            XCTAssertFalse(FileManager.default.fileExists(atPath: staging.path), "the staging folder is removed once resumed")
            try assertMatches(dir.appendingPathComponent(name), dir.appendingPathComponent("reference"))
        }
    }
}

extension SignalResumeTests {
    /// A staging folder of our name and pid without its sentinel (a run of an earlier process of
    /// this pid, killed in `commit` after the sentinel was removed) neither blocks a new run to the
    /// same output nor is touched by it. `sh` makes the folder for its own pid and `exec`s reluflow,
    /// which keeps the pid. Before: "cannot create .k.partial-PID: File exists", exit 3.
    func testStagingFolderWithoutSentinelOfTheSamePidIsLeftAndSteppedAround() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let script = "mkdir .k.partial-$$ && echo 'half committed' > .k.partial-$$/trajectory.csv && echo $$ > pid && "
            + "exec '\(reluflowExecutable().path)' simulate --example sine --T 1 --out k --quiet"
        let shell = try runShell(script, in: dir)
        XCTAssertEqual(shell.status, 0, shell.stderr)
        let pid = try String(contentsOf: dir.appendingPathComponent("pid"), encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let left = dir.appendingPathComponent(".k.partial-\(pid)/trajectory.csv")
        XCTAssertEqual(try String(contentsOf: left, encoding: .utf8), "half committed\n")
        XCTAssertEqual(try OutputMarker.read(folder: dir.appendingPathComponent("k").path, field: "--out").kind, "run")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasPrefix(".") }, [".k.partial-\(pid)"])
    }

    /// A killed run resumed by a process of the same pid (a container's pid 1 after a hard kill,
    /// `sweep --in-process` whose runs share its pid): the resumable staging folder
    /// `.NAME.partial-PID` is the one continued, so the new staging folder takes another name and
    /// the run completes (before, `mkdir` of the same name failed the resume with "File exists").
    /// The pid is made to repeat by writing /proc/sys/kernel/ns_last_pid (root only).
    func testResumeByAProcessOfTheKilledRunsPid() throws {
        guard FileManager.default.isWritableFile(atPath: "/proc/sys/kernel/ns_last_pid") else {
            throw XCTSkip("needs a writable /proc/sys/kernel/ns_last_pid (root) to make a pid repeat")
        }
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try Self.config.write(to: dir.appendingPathComponent("mid.json"), atomically: true, encoding: .utf8)
        XCTAssertEqual(try runReluflow(["simulate", "--config", "mid.json", "--out", "reference", "--quiet"], in: dir).status, 0)
        let process = try start(["simulate", "--config", "mid.json", "--out", "k", "--quiet", "--checkpoint-every", "0.05"], in: dir)
        let pid = process.processIdentifier
        let staging = dir.appendingPathComponent(".k.partial-\(pid)")
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline, (ResumePoint.read(folder: staging.path)?.t ?? 0) < 0.5, process.isRunning {
            Thread.sleep(forTimeInterval: 0.01)
        }
        XCTAssertTrue(process.isRunning, "the run ended before a checkpoint past t = 0.5")
        kill(pid, SIGKILL)
        process.waitUntilExit()
        // `sh` checks that it got the killed run's pid before it becomes the resuming reluflow
        // (exec keeps the pid); another process may take the pid first, so it is tried again.
        let resume = "[ $$ = \(pid) ] && exec '\(reluflowExecutable().path)' simulate --resume k --quiet; exit 99"
        var status: Int32 = 99, stderr = ""
        for _ in 0..<200 where status == 99 {
            try "\(pid - 1)".write(toFile: "/proc/sys/kernel/ns_last_pid", atomically: false, encoding: .utf8)
            let shell = try runShell(resume, in: dir)
            (status, stderr) = (shell.status, shell.stderr)
        }
        guard status != 99 else { throw XCTSkip("pid \(pid) was not given to the resuming process in 200 tries") }
        XCTAssertEqual(status, 0, stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: staging.path), "the staging folder is removed once resumed")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasPrefix(".") }, [])
        try assertMatches(dir.appendingPathComponent("k"), dir.appendingPathComponent("reference"))
    }
}

/// Every file of two run folders equal byte for byte, but summary.json's wall-clock entries and the
/// marker's size of summary.json.
func assertSameFiles(_ a: URL, _ b: URL, file: StaticString = #filePath, line: UInt = #line) throws {
    let names = try FileManager.default.contentsOfDirectory(atPath: a.path).sorted()
    XCTAssertEqual(names, try FileManager.default.contentsOfDirectory(atPath: b.path).sorted(), file: file, line: line)
    for name in names where name != OutputMarker.fileName {
        var x = try Data(contentsOf: a.appendingPathComponent(name)), y = try Data(contentsOf: b.appendingPathComponent(name))
        if name == "summary.json" {
            func timeless(_ data: Data) throws -> Data {
                var object = try JSONSerialization.jsonObject(with: data) as! [String: Any]
                for key in ["wallSeconds", "stepperSeconds"] { object[key] = nil }
                return try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            }
            x = try timeless(x)
            y = try timeless(y)
        }
        XCTAssertEqual(x, y, "\(name) differs", file: file, line: line)
    }
}

/// `--resume` keeps the provenance: every part's options and the time it reached are in
/// config.json (`flow.segments`) and summary.json (`segments`), and the config repeats the run.
final class ProvenanceTests: XCTestCase {
    func testResumedRunWithOtherOptionsIsRepeatedByItsConfig() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        XCTAssertEqual(try runReluflow(["simulate", "--example", "sine", "--T", "100", "--out", "run", "--quiet"], in: dir).status, 0)
        let resumed = try runReluflow(["simulate", "--resume", "run", "--rtol", "1e-6", "--T", "1000", "--quiet"], in: dir)
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        let config = try RunConfig.load(path: dir.appendingPathComponent("run/config.json").path)
        XCTAssertEqual(config.flow.rtol, 1e-6)
        XCTAssertEqual(config.flow.segments?.count, 1)
        XCTAssertEqual(config.flow.segments?.first?.rtol, 1e-10)
        XCTAssertEqual(config.flow.segments?.first?.until, 100)
        let summary = try JSONDecoder().decode(RunSummary.self, from: Data(contentsOf: dir.appendingPathComponent("run/summary.json")))
        XCTAssertEqual(summary.segments?.map(\.until), [100, 1000])
        XCTAssertEqual(summary.segments?.map(\.rtol), [1e-10, 1e-6])
        let again = try runReluflow(["simulate", "--config", "run/config.json", "--out", "again", "--quiet"], in: dir)
        XCTAssertEqual(again.status, 0, again.stderr)
        try assertSameFiles(dir.appendingPathComponent("run"), dir.appendingPathComponent("again"))
        // No part folders are left.
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasPrefix(".") }, [])
        // Segments are validated like the flow section.
        var bad = config
        bad.flow.segments![0].until = 5000
        try bad.encoded().write(to: dir.appendingPathComponent("bad.json"))
        let refused = try runReluflow(["simulate", "--config", "bad.json", "--out", "bad", "--quiet"], in: dir)
        XCTAssertEqual(refused.status, 2)
        XCTAssertTrue(refused.stderr.contains("flow.segments[0].until"), refused.stderr)
    }
}
