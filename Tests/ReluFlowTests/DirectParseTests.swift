import Foundation
import XCTest

/// simulate, train and curvature are parsed as roots of their own when their arguments are valid
/// (`ReluflowCommand.parseSubcommandDirectly`), naming `reluflow` as their super-command so that
/// ArgumentParser skips its completion-script re-parses (issue 22). What a user sees must not
/// change: help, usage errors and `--generate-completion-script` still come from the full parse.
final class DirectParseTests: XCTestCase {
    func testHelpUsageErrorsAndCompletionsAreThoseOfTheFullParse() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        for name in ["simulate", "train", "curvature"] {
            let help = try runReluflow([name, "--help"], in: dir)
            XCTAssertEqual(help.status, 0, name)
            XCTAssertTrue(help.stdout.contains("USAGE: reluflow \(name) "), "\(name) --help: \(help.stdout.prefix(400))")
            XCTAssertFalse(help.stdout.contains("reluflow reluflow"), name)

            let bad = try runReluflow([name, "--no-such-option"], in: dir)
            XCTAssertEqual(bad.status, 2, name)
            XCTAssertTrue(bad.stderr.contains("Unknown option '--no-such-option'"), "\(name): \(bad.stderr)")
            XCTAssertTrue(bad.stderr.contains("Usage: reluflow \(name) "), "\(name): \(bad.stderr)")
        }
        let script = try runReluflow(["simulate", "--generate-completion-script", "bash"], in: dir)
        XCTAssertEqual(script.status, 0)
        XCTAssertTrue(script.stdout.hasPrefix("#!/bin/bash"), String(script.stdout.prefix(200)))
        XCTAssertTrue(script.stdout.contains("simulate"))
    }
}
