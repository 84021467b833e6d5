import Foundation
import XCTest

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
}
