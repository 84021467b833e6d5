import Foundation
import XCTest
@testable import ReluFlow

/// README's transcripts are what the program prints (issue 15 item 12): `docs/transcripts.py
/// --check` runs every `<!-- transcript -->` block's commands with the built binary and compares
/// the output, wall-clock seconds masked. Regenerate with `python3 docs/transcripts.py --update`.
final class ReadmeTests: XCTestCase {
    func testTranscriptsMatchTheProgram() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let python = ["/usr/bin/python3", "/usr/local/bin/python3"].first { FileManager.default.isExecutableFile(atPath: $0) }
            ?? ProcessInfo.processInfo.environment["PATH"]?.split(separator: ":")
                .map { "\($0)/python3" }.first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let python else { throw XCTSkip("python3 is not installed") }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [root.appendingPathComponent("docs/transcripts.py").path, "--check", "--bin", reluflowExecutable().path]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = out
        try process.run()
        let output = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0, output)
        XCTAssertTrue(output.contains("2 transcript(s) agree"), output)
    }

    /// README's config reference (its "### Config" section) names every key the config's `flow`
    /// object accepts (the config checker's own list, `KeyCheck.runConfig`), as `key`: a new-user
    /// trial found `flow.kind` (gradient, rmsprop, adam) documented nowhere a config is explained.
    func testConfigSectionNamesEveryFlowKey() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let readme = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
        let start = try XCTUnwrap(readme.range(of: "\n### Config\n"))
        let rest = readme[start.upperBound...]
        let section = rest[..<(rest.range(of: "\n## ")?.lowerBound ?? rest.endIndex)]
        guard case .object(let top) = KeyCheck.runConfig, case .object(let flow)? = top["flow"] else {
            return XCTFail("the config checker has no flow object")
        }
        XCTAssertTrue(flow.keys.contains("kind"))
        for key in flow.keys.sorted() {
            XCTAssertTrue(section.contains("`\(key)`") || section.contains("`flow.\(key)`"), "README's Config section does not name flow.\(key)")
        }
        for kind in ["gradient", "rmsprop", "adam"] { XCTAssertTrue(section.contains("`\"\(kind)\"`"), kind) }
    }
}
